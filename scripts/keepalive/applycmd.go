package main

// keepalive apply: keepalive on the connections running processes hold now,
// without a restart (package apply), for PIDs or every process of a unit.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/apply"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/cgroupv2"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
	"github.com/libkeepalive/libkeepalive/shim"
)

const applyUsage = `usage: keepalive apply [--idle S] [--interval S] [--count N] [--user-timeout S] [--force] [--config FILE] [--json] PID...
       keepalive apply [OPTION]... [--attach] UNIT|CGROUP

Gives the TCP connections that running processes hold now (established,
IPv4 and IPv6) keepalive, without restarting them and without stopping,
tracing or signalling them: each socket is reached through a duplicate of
its descriptor (pidfd_getfd, Linux 5.6). Listening sockets get the settings
too, so connections they accept from then on inherit them. With UNIT (a
systemd unit such as legacy.service) or CGROUP (a cgroup v2 directory),
every process of it and of the cgroups beneath it.

  --idle S, --interval S, --count N, --user-timeout S
                      as for the preload (KEEPIDLE, KEEPINTVL, KEEPCNT,
                      KEEPUSERTIMEOUT); an option not given keeps the kernel's
  --config FILE       the settings of a configuration file, as the library
                      reads it; options override it. Without any option, the
                      library's /etc/keepalive.conf is read if it exists
  --force             also for connections whose program turned keepalive on
                      itself (without it they keep their own settings)
  --attach            with UNIT or CGROUP: first keepalive cgroup attach it
                      with the same settings, so that connections made from
                      now on get them as well (--bpffs DIR as for attach)
  --json              the outcome as JSON (docs/json.md)

Needs the right to trace each process: its user, or root (Yama's
ptrace_scope may ask for root). Exit status 0 when every connection asked
about has the settings or its own keepalive, 1 when some could not be
reached or changed (each said why), 2 for bad options (nothing changed).
`

func applyMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive apply", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pol := addPolicyFlags(fs)
	attach := fs.Bool("attach", false, "")
	bpffs := fs.String("bpffs", defaultBpffs, "")
	asJSON := fs.Bool("json", false, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	const nothing = "keepalive: nothing was changed"
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: apply: %v (see keepalive apply --help)\n%s\n", err, nothing)
		return 2
	}
	if *help {
		fmt.Fprint(stdout, applyUsage)
		return 0
	}
	policy, from, ok := pol.settings(fs, "keepalive apply", nothing, stderr)
	if !ok {
		return 2
	}
	if len(pos) == 0 {
		fmt.Fprintf(stderr, "keepalive: apply needs a PID, a unit or a cgroup (see keepalive apply --help)\n%s\n", nothing)
		return 2
	}
	t, code := targetsOf(pos, *attach, stderr)
	if code != 0 {
		fmt.Fprintln(stderr, nothing)
		return code
	}
	if *attach {
		// The program first, so that a connection made while the existing
		// ones are applied to gets the settings from one or the other.
		if code := attachTo(t.cgroup, attachArgs{policy: policy, from: from, bpffs: *bpffs}, nothing, stdout, stderr); code != 0 {
			return code
		}
	}
	run := apply.NewRun(policy)
	var results []apply.Process
	for _, pid := range t.pids {
		results = append(results, run.Apply(pid))
	}
	status := 0
	for _, p := range results {
		if p.Count(apply.Failed, false)+p.Count(apply.Failed, true) > 0 ||
			(p.Err != nil && !(t.cgroup.Path != "" && errors.Is(p.Err, apply.ErrNoProcess))) {
			// A process of a unit that ended meanwhile took its connections
			// with it; one named by PID that is not there is the operator's
			// to know.
			status = 1
		}
	}
	if *asJSON {
		if st := writeJSON(stdout, stderr, applyReportOf(results, policy, t, *attach)); st != 0 {
			return st
		}
		return status
	}
	writeApply(stdout, stderr, results, policy, from, t, *attach)
	return status
}

// targets are the processes an apply reaches, and the cgroup they were
// found in (Path "" for PIDs).
type targets struct {
	pids   []int
	cgroup cgroupv2.Dir
}

// targetsOf reads the arguments: PIDs only, or one unit or cgroup.
func targetsOf(pos []string, attach bool, stderr io.Writer) (targets, int) {
	var t targets
	numeric := 0
	for _, a := range pos {
		if _, err := strconv.Atoi(a); err == nil {
			numeric++
		}
	}
	if numeric == len(pos) {
		for _, a := range pos {
			pid, _ := strconv.Atoi(a)
			if pid <= 0 {
				fmt.Fprintf(stderr, "keepalive: apply: %s is not a process ID\n", shim.Quote(a))
				return t, 2
			}
			t.pids = append(t.pids, pid)
		}
		if attach {
			fmt.Fprintln(stderr, "keepalive: apply: --attach needs a UNIT or CGROUP, not PIDs (a process's new connections "+
				"come from its cgroup: keepalive cgroup attach that)")
			return t, 2
		}
		return t, 0
	}
	if len(pos) != 1 || numeric > 0 {
		fmt.Fprintf(stderr, "keepalive: apply takes PIDs or one UNIT or CGROUP, got %s\n", shim.Quote(strings.Join(pos, " ")))
		return t, 2
	}
	cg, err := cgroupv2.Resolve(pos[0], true)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n", err)
		return t, 1
	}
	pids, err := cgroupv2.Procs(cg.Path)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: cannot list the processes of %s: %v\n", cg.Path, err)
		return t, 1
	}
	t.pids, t.cgroup = pids, cg
	return t, 0
}

const applyNotes = `CHANGED: established connections given the settings now. LISTENERS: listening sockets given
them: connections they accept from now on inherit them (ones already waiting in the accept queue
do not). LEFT-ALONE: sockets whose program turned keepalive on itself (--force changes them). GONE:
closed or reused between the listing and the change (nothing to do). FAILED: could not be reached
or changed: the reason is said below.
`

func writeApply(stdout, stderr io.Writer, results []apply.Process, p sockops.Policy, from string, t targets, attached bool) {
	where := "PID(s) " + pidList(t.pids)
	if t.cgroup.Path != "" {
		where = t.cgroup.Path
	}
	what := describe(p.Default)
	if n := len(p.Rules); n > 0 {
		what = fmt.Sprintf("%d rules by destination first, else %s", n, what)
	}
	fmt.Fprintf(stdout, "keepalive: apply to %s: %s%s\n", where, what, from)
	if len(p.Rules) > 0 {
		fmt.Fprintln(stdout, "keepalive: with rules by destination, each connection gets its rule (LEFT-ALONE: by a KEEPALIVE=off rule too) "+
			"and listening sockets are left alone: connections accepted from now on get their rule from the library or keepalive cgroup attach")
	}
	if len(results) == 0 {
		fmt.Fprintf(stdout, "keepalive: %s has no process\n", where)
	} else {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tCOMMAND\tCHANGED\tLISTENERS\tLEFT-ALONE\tGONE\tFAILED")
		for _, p := range results {
			cmd := shim.Quote(p.Command)
			if p.Command == "" {
				cmd = "-"
			}
			cells := []string{strconv.Itoa(p.PID), cmd}
			for _, n := range counts(p) {
				if n == nil {
					cells = append(cells, "?") // not reached: how many is not known
				} else {
					cells = append(cells, strconv.Itoa(*n))
				}
			}
			fmt.Fprintln(w, strings.Join(cells, "\t"))
		}
		w.Flush()
		fmt.Fprint(stdout, applyNotes)
	}
	for _, l := range applyProblems(results) {
		fmt.Fprintln(stderr, l)
	}
	if t.cgroup.Path != "" && !attached {
		fmt.Fprintf(stdout, "keepalive: connections that %s makes from now on do not get these settings: "+
			"keepalive cgroup attach %s (or apply --attach) gives them\n", filepath.Base(t.cgroup.Path), filepath.Base(t.cgroup.Path))
	}
}

// counts are a process's changed connections and listeners, left alone,
// gone and failed sockets; nil for a process that could not be reached at
// all, whose sockets are not known.
func counts(p apply.Process) []*int {
	both := func(o apply.Outcome) int { return p.Count(o, false) + p.Count(o, true) }
	c := []int{p.Count(apply.Changed, false), p.Count(apply.Changed, true), both(apply.LeftAlone), both(apply.Gone), both(apply.Failed)}
	out := make([]*int, len(c))
	for i := range c {
		if p.Err == nil || len(p.Sockets) > 0 {
			out[i] = &c[i]
		}
	}
	return out
}

// applyProblems is a line per process that was not wholly reached, and per
// socket that failed for a reason of its own.
func applyProblems(results []apply.Process) []string {
	var lines []string
	for _, p := range results {
		name := fmt.Sprintf("process %d", p.PID)
		if p.Command != "" {
			name += " (" + shim.Quote(p.Command) + ")"
		}
		failed := p.Count(apply.Failed, false) + p.Count(apply.Failed, true)
		switch {
		case errors.Is(p.Err, apply.ErrNoProcess) && len(p.Sockets) == 0:
			lines = append(lines, fmt.Sprintf("keepalive: apply: no process %d", p.PID))
		case errors.Is(p.Err, apply.ErrNoProcess):
			lines = append(lines, fmt.Sprintf("keepalive: apply: %s ended meanwhile", name))
		case p.Err != nil && failed > 0:
			lines = append(lines, fmt.Sprintf("keepalive: apply: %s: %d socket(s) not changed: %v", name, failed, p.Err))
		case p.Err != nil:
			lines = append(lines, fmt.Sprintf("keepalive: apply: %s: not reached: %v", name, p.Err))
		default:
			for _, sk := range p.Sockets {
				if sk.Outcome == apply.Failed {
					lines = append(lines, fmt.Sprintf("keepalive: apply: %s, descriptor %d (%s): %v", name, sk.FD, sockText(sk), sk.Err))
				}
			}
		}
	}
	return lines
}

func sockText(sk apply.Socket) string {
	if sk.Listening {
		return "listening on " + sk.Local.String()
	}
	return sk.Local.String() + " to " + sk.Peer.String()
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, " ")
}

// applyReport is keepalive apply --json; the names are stable (docs/json.md).
type applyReport struct {
	Cgroup          *string              `json:"cgroup"` // null for PIDs
	Attached        bool                 `json:"attached"`
	IdleSeconds     *uint32              `json:"idle_seconds"`
	IntervalSeconds *uint32              `json:"interval_seconds"`
	Count           *uint32              `json:"count"`
	UserTimeoutMs   *uint32              `json:"user_timeout_ms"`
	Force           bool                 `json:"force"`
	Processes       []applyProcessReport `json:"processes"`
}

type applyProcessReport struct {
	PID     int     `json:"pid"`
	Command *string `json:"command"` // null when the process was not found
	// The counts are null for a process that could not be reached at all.
	Changed   *int                `json:"changed"`
	Listeners *int                `json:"listeners"`
	LeftAlone *int                `json:"left_alone"`
	Gone      *int                `json:"gone"`
	Failed    *int                `json:"failed"`
	Error     *string             `json:"error"` // why the process could not be reached
	Sockets   []applySocketReport `json:"sockets"`
}

type applySocketReport struct {
	FD         int     `json:"fd"`
	State      string  `json:"state"` // ESTAB or LISTEN, as ss names them
	Local      string  `json:"local"`
	Remote     string  `json:"remote"`
	Outcome    string  `json:"outcome"` // changed, left-alone, gone, failed, shared
	SharedWith *int    `json:"shared_with"`
	Error      *string `json:"error"`
	// RuleLine is the line of the rule by destination it fell under;
	// null for the default, or without rules.
	RuleLine *uint32 `json:"rule_line"`
}

func applyReportOf(results []apply.Process, pol sockops.Policy, t targets, attached bool) applyReport {
	s := pol.Default
	opt := func(flag, v uint32) *uint32 {
		if s.Flags&flag == 0 {
			return nil
		}
		return &v
	}
	r := applyReport{Attached: attached, Force: s.Flags&sockops.Force != 0, Processes: []applyProcessReport{},
		IdleSeconds: opt(sockops.HasIdle, s.Idle), IntervalSeconds: opt(sockops.HasIntvl, s.Intvl),
		Count: opt(sockops.HasCnt, s.Cnt), UserTimeoutMs: opt(sockops.HasUserTimeout, s.UserTimeout)}
	if t.cgroup.Path != "" {
		r.Cgroup = &t.cgroup.Path
	}
	for _, p := range results {
		c := counts(p)
		pr := applyProcessReport{PID: p.PID, Sockets: []applySocketReport{}, Changed: c[0], Listeners: c[1], LeftAlone: c[2], Gone: c[3], Failed: c[4]}
		if !errors.Is(p.Err, apply.ErrNoProcess) || len(p.Sockets) > 0 {
			pr.Command = &p.Command
		}
		if p.Err != nil {
			e := p.Err.Error()
			pr.Error = &e
		}
		for _, sk := range p.Sockets {
			sr := applySocketReport{FD: sk.FD, State: "ESTAB", Local: sk.Local.String(), Remote: sk.Peer.String(), Outcome: sk.Outcome.String()}
			if sk.Listening {
				sr.State, sr.Remote = "LISTEN", "*"
			}
			if sk.SharedWith != 0 {
				sr.Outcome, sr.SharedWith = "shared", &sk.SharedWith
			}
			if sk.Rule >= 0 {
				sr.RuleLine = &pol.Rules[sk.Rule].Line
			}
			if sk.Err != nil && sk.Err != p.Err {
				e := sk.Err.Error()
				sr.Error = &e
			}
			pr.Sockets = append(pr.Sockets, sr)
		}
		r.Processes = append(r.Processes, pr)
	}
	return r
}
