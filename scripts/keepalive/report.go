package main

// The --json forms of the status commands. Their field names are stable:
// scripts and configuration management read them (docs/json.md). A value
// that could not be read is null, never 0.

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

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

func (h *host) report() hostReport {
	r := hostReport{Processes: []processReport{}, Skipped: []skipReport{}}
	for _, p := range h.listed {
		pr := processReport{PID: p.pid, Command: p.comm, Established: p.tcp, Keepalive: p.keepalive, AtRisk: max(p.atRisk(), 0),
			Unknown: p.unknown, FromTimers: p.inferred}
		if p.keepalive > 0 && p.minIdle > 0 {
			pr.MinIdleSeconds = &p.minIdle
		}
		r.Processes = append(r.Processes, pr)
	}
	r.Established, r.AtRiskProcesses, r.AtRisk, _ = h.totals()
	for reason, n := range h.skipped {
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

type attachmentReport struct {
	Cgroup string `json:"cgroup"` // the cgroup; for a load, its sock_ops pin
	Kind   string `json:"kind"`   // "attached" or "loaded"
	State  string `json:"state"`
	// The settings; null keeps the kernel's value (or the settings could
	// not be read: then force is null too).
	IdleSeconds     *uint32 `json:"idle_seconds"`
	IntervalSeconds *uint32 `json:"interval_seconds"`
	Count           *uint32 `json:"count"`
	UserTimeoutMs   *uint32 `json:"user_timeout_ms"`
	Force           *bool   `json:"force"`
	// The program's counters since the first attach or load; null when
	// they could not be read.
	Configured *uint64 `json:"configured"`
	LeftAlone  *uint64 `json:"left_alone"`
	Refused    *uint64 `json:"refused"`
	Rewritten  *uint64 `json:"rewritten"`
	Unanswered *uint64 `json:"unanswered"`
	// TimedOut: connections the kernel closed because keepalive probes or
	// the user timeout went unanswered; null where it is not counted.
	TimedOut *uint64 `json:"timed_out"`
}

func attachmentOf(e pins.Entry, kind string) attachmentReport {
	a := attachmentReport{Cgroup: e.Where, Kind: kind, State: e.State}
	if s := e.Settings; s != nil {
		opt := func(flag, v uint32) *uint32 {
			if s.Flags&flag == 0 {
				return nil
			}
			return &v
		}
		force := s.Flags&sockops.Force != 0
		a.IdleSeconds, a.IntervalSeconds, a.Count, a.UserTimeoutMs, a.Force = opt(sockops.HasIdle, s.Idle),
			opt(sockops.HasIntvl, s.Intvl), opt(sockops.HasCnt, s.Cnt), opt(sockops.HasUserTimeout, s.UserTimeout), &force
	}
	if c := e.Counters; c != nil {
		a.Configured, a.LeftAlone, a.Refused, a.Rewritten, a.Unanswered = &c[sockops.Configured], &c[sockops.LeftAlone],
			&c[sockops.Refused], &c[sockops.Rewritten], &c[sockops.Unanswered]
		if e.Counted(sockops.TimedOut) {
			a.TimedOut = &c[sockops.TimedOut]
		}
	}
	return a
}
