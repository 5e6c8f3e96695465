package main

// The --json forms of the status commands. Their field names are stable:
// scripts and configuration management read them (docs/json.md). A value
// that could not be read is null, never 0.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/hostscan"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/pins"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "keepalive: writing JSON: %v\n", err)
		return 1
	}
	return 0
}

// hostReport is keepalive status --json.
type hostReport struct {
	Processes       []processReport `json:"processes"`
	Established     int             `json:"established"`       // connections, all processes
	AtRisk          int             `json:"at_risk"`           // of them without keepalive
	AtRiskProcesses int             `json:"at_risk_processes"` // processes holding any
	Skipped         []skipReport    `json:"skipped"`
	// ByRule: the connections at risk by the rule by destination they
	// fall under; null when the configuration file holds no rules.
	ByRule *byRuleReport `json:"by_rule"`
}

type processReport struct {
	PID         int    `json:"pid"`
	Command     string `json:"command"`
	Established int    `json:"established"`
	Keepalive   int    `json:"keepalive"`
	AtRisk      int    `json:"at_risk"`
	// Unknown: connections whose keepalive a retransmission timer hides
	// (only when read from the timers).
	Unknown        int  `json:"unknown"`
	MinIdleSeconds *int `json:"min_idle_seconds"`
	FromTimers     bool `json:"from_timers"`
}

type skipReport struct {
	Reason    string `json:"reason"`
	Processes int    `json:"processes"`
}

func hostReportOf(h *hostscan.Host, b *hostscan.ByRule) hostReport {
	r := hostReport{Processes: []processReport{}, Skipped: []skipReport{}, ByRule: byRuleReportOf(b)}
	for _, p := range h.Listed {
		pr := processReport{PID: p.PID, Command: p.Command, Established: p.TCP, Keepalive: p.Keepalive, AtRisk: max(p.AtRisk(), 0),
			Unknown: p.Unknown, FromTimers: p.Inferred}
		if p.Keepalive > 0 && p.MinIdle > 0 {
			pr.MinIdleSeconds = &p.MinIdle
		}
		r.Processes = append(r.Processes, pr)
	}
	r.Established, r.AtRiskProcesses, r.AtRisk, _ = h.Totals()
	for reason, n := range h.Skipped {
		r.Skipped = append(r.Skipped, skipReport{reason, n})
	}
	sort.Slice(r.Skipped, func(i, j int) bool { return r.Skipped[i].Reason < r.Skipped[j].Reason })
	return r
}

// socketsReport is keepalive status PID --json.
type socketsReport struct {
	PID     int          `json:"pid"`
	Command string       `json:"command"`
	Sockets []sockReport `json:"sockets"`
	Notes   []string     `json:"notes"`
}

type sockReport struct {
	FD              int    `json:"fd"`
	State           string `json:"state"`
	Local           string `json:"local"`
	Remote          string `json:"remote"`
	Keepalive       *bool  `json:"keepalive"`
	IdleSeconds     *int   `json:"idle_seconds"`
	IntervalSeconds *int   `json:"interval_seconds"`
	Count           *int   `json:"count"`
	UserTimeoutMs   *int   `json:"user_timeout_ms"`
	Timer           string `json:"timer"` // as ss shows it; "-" for none
}

func socketsReportOf(pid int, command string, socks []sock, notes []string) socketsReport {
	r := socketsReport{PID: pid, Command: command, Sockets: []sockReport{}, Notes: notes}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	known := func(v int) *int {
		if v < 0 {
			return nil
		}
		return &v
	}
	for _, s := range socks {
		sr := sockReport{FD: s.fd.Num, State: s.state, Local: s.local, Remote: s.peer, Timer: s.timer}
		if o := s.opts; o != nil {
			on := o.Keepalive != 0
			sr.Keepalive, sr.IdleSeconds, sr.IntervalSeconds, sr.Count, sr.UserTimeoutMs = &on, known(o.Idle), known(o.Intvl), known(o.Cnt), known(o.UserTimeout)
		}
		r.Sockets = append(r.Sockets, sr)
	}
	return r
}

// cgroupReport is keepalive cgroup status --json.
type cgroupReport struct {
	Attachments []attachmentReport `json:"attachments"`
}

// attachmentReport is one attachment or load. Its settings and counters are
// written in sockops.SettingFields' and CounterFields' order under their
// JSON names, so that the table, the JSON and the metrics name each from
// one place.
type attachmentReport struct {
	// Cgroup is the cgroup; for a load, its sock_ops pin; null when the
	// cgroup's path is lost (Pins still names the directory).
	Cgroup *string
	Pins   string
	Kind   pins.Kind
	State  pins.State
	// Settings, by SettingFields: null keeps the kernel's value (or the
	// settings could not be read: then Force is null too).
	Settings []*uint32
	Force    *bool
	// Counters, by CounterFields: the program's counters since the first
	// attach or load; null when they could not be read, or (TimedOut) are
	// not counted by this kernel's program.
	Counters []*uint64
	// Rules are the rules by destination, in order, each with its
	// counters (sockops.RuleCounters); Default the counters of the
	// connections no rule took, nil without rules.
	Rules   []cgroupRuleReport
	Default map[string]uint64
}

// cgroupRuleReport is one rule by destination of an attachment or load.
type cgroupRuleReport struct {
	Line     uint32            `json:"line"`
	Rule     string            `json:"rule"`
	Counters map[string]uint64 `json:"counters"`
}

// ruleCounters are the counters of one rule (or the default), by JSON name.
func ruleCounters(c []uint64) map[string]uint64 {
	m := map[string]uint64{}
	for _, i := range sockops.RuleCounters {
		m[sockops.CounterFields[i].JSON] = c[i]
	}
	return m
}

func (a attachmentReport) MarshalJSON() ([]byte, error) {
	type kv struct {
		k string
		v any
	}
	fields := []kv{{"cgroup", a.Cgroup}, {"pins", a.Pins}, {"kind", a.Kind}, {"state", a.State}}
	for i, f := range sockops.SettingFields {
		fields = append(fields, kv{f.JSON, a.Settings[i]})
	}
	fields = append(fields, kv{"force", a.Force})
	for i, f := range sockops.CounterFields {
		fields = append(fields, kv{f.JSON, a.Counters[i]})
	}
	fields = append(fields, kv{"rules", a.Rules}, kv{"default", a.Default})
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func attachmentOf(e pins.Entry) attachmentReport {
	a := attachmentReport{Pins: e.Dir, Kind: e.Kind, State: e.State,
		Settings: make([]*uint32, len(sockops.SettingFields)), Counters: make([]*uint64, sockops.NumCounters)}
	if e.Where != "" {
		a.Cgroup = &e.Where
	}
	if s := e.Settings; s != nil {
		for i, f := range sockops.SettingFields {
			if s.Flags&f.Flag != 0 {
				v := f.Value(*s)
				a.Settings[i] = &v
			}
		}
		force := s.Flags&sockops.Force != 0
		a.Force = &force
	}
	for i := range a.Counters {
		if e.Counted(i) {
			a.Counters[i] = &e.Counters[i]
		}
	}
	a.Rules = []cgroupRuleReport{}
	for i, r := range e.ActiveRules() {
		a.Rules = append(a.Rules, cgroupRuleReport{Line: r.Line, Rule: r.Text, Counters: ruleCounters(e.RuleCounters[i])})
	}
	if len(a.Rules) > 0 {
		a.Default = ruleCounters(e.RuleCounters[sockops.Default])
	}
	return a
}
