package sockops

// Field describes one setting or counter once, for every place that shows
// it: keepalive cgroup status's table (Column), its JSON (JSON, a stable
// name: docs/json.md) and keepalive metrics (Metric, Help).
type Field struct {
	Column, JSON, Metric, Help string
}

// SettingField is one of the settings, with how to read it from Settings.
type SettingField struct {
	Field
	Word string // in a sentence: "idle 60s, interval 10s"
	Flag uint32 // the Has* bit: clear keeps the kernel's value
	Unit string // as status shows the value: "s", "" or "ms"
	// Scale turns the value into the metric's unit (seconds).
	Scale float64
	Value func(Settings) uint32
}

// Settings, in the order every view shows them.
var SettingFields = []SettingField{
	{Field{"IDLE", "idle_seconds", "keepalive_cgroup_idle_seconds", "TCP_KEEPIDLE the cgroup's connections get; absent: the kernel's."},
		"idle", HasIdle, "s", 1, func(s Settings) uint32 { return s.Idle }},
	{Field{"INTVL", "interval_seconds", "keepalive_cgroup_interval_seconds", "TCP_KEEPINTVL the cgroup's connections get; absent: the kernel's."},
		"interval", HasIntvl, "s", 1, func(s Settings) uint32 { return s.Intvl }},
	{Field{"CNT", "count", "keepalive_cgroup_probes", "TCP_KEEPCNT the cgroup's connections get; absent: the kernel's."},
		"count", HasCnt, "", 1, func(s Settings) uint32 { return s.Cnt }},
	{Field{"USER-TIMEOUT", "user_timeout_ms", "keepalive_cgroup_user_timeout_seconds", "TCP_USER_TIMEOUT the cgroup's connections get; absent: the kernel's."},
		"user timeout", HasUserTimeout, "ms", 0.001, func(s Settings) uint32 { return s.UserTimeout }},
}

// CounterFields are the counters, by index (Configured ... TimedOut).
var CounterFields = [NumCounters]Field{
	Configured: {"CONFIGURED", "configured", "keepalive_cgroup_configured_total", "Connections given the settings."},
	LeftAlone: {"LEFT-ALONE", "left_alone", "keepalive_cgroup_left_alone_total",
		"Connections left alone: their program had turned keepalive on itself."},
	Refused:   {"REFUSED", "refused", "keepalive_cgroup_refused_total", "Connections on which the kernel refused an option."},
	Rewritten: {"REWRITTEN", "rewritten", "keepalive_cgroup_rewritten_total", "setsockopt calls of programs replaced by --force."},
	Unanswered: {"UNANSWERED", "unanswered", "keepalive_cgroup_unanswered_total",
		"Connections configured without knowing whether their program had turned keepalive on (Linux before 6.1)."},
	TimedOut: {"TIMED-OUT", "timed_out", "keepalive_cgroup_timed_out_total",
		"Configured connections the kernel closed because keepalive probes or the user timeout went unanswered: dead peers found."},
}

// RuleCounters are the counters each rule by destination keeps too, by
// index into CounterFields. A rule's LeftAlone also counts the connections
// a KEEPALIVE=off rule left; Rewritten and TimedOut are counted where the
// connection's rule is not known, and only in the totals.
var RuleCounters = []int{Configured, LeftAlone, Refused, Unanswered}
