package main

// keepalive cgroup: keepalive for every TCP connection made in a cgroup v2,
// static and Go programs included, by a BPF sock_ops program (package
// sockops) attached to the cgroup and pinned in bpffs, so that it outlives
// this command.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/cgroupv2"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/pins"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

const cgroupUsage = `usage: keepalive cgroup attach [--config FILE] [--idle S] [--interval S] [--count N] [--user-timeout S] [--force] CGROUP
       keepalive cgroup detach CGROUP
       keepalive cgroup status [--json] [CGROUP]
       keepalive cgroup load [--config FILE] [--idle S] [--interval S] [--count N] [--user-timeout S] [--force] NAME
       keepalive cgroup unload NAME

Turns keepalive on for every TCP connection established in CGROUP (a cgroup
v2 directory, or a systemd unit such as legacy.service or system.slice) and
its children, static and Go programs included, with a BPF program that stays
attached after this command ends (pinned under BPFFS/keepalive). Needs root.

  --idle S, --interval S, --count N, --user-timeout S
                      as for the preload (KEEPIDLE, KEEPINTVL, KEEPCNT,
                      KEEPUSERTIMEOUT); an option not given keeps the kernel's
  --config FILE       the settings of a configuration file, as the library
                      reads it (KEEPIDLE, KEEPINTVL, KEEPCNT, KEEPUSERTIMEOUT;
                      KEEPALIVE=force is --force, KEEPALIVE=off is refused);
                      options override it. Without any option, the library's
                      /etc/keepalive.conf is read if it exists
  --force             also for connections whose program turned keepalive on
                      itself, and keep these values when the program later
                      sets its own (a cgroup/setsockopt program rewrites them)
  --bpffs DIR         the bpffs to pin in (default /sys/fs/bpf; mounted if not)

attach again replaces the settings (one program per cgroup); detach removes
the program and its pins; status lists the attached cgroups with their
settings and counters. load pins the program and its settings under
BPFFS/keepalive/loaded/NAME without attaching it, for systemd's
BPFProgram=sock_ops:BPFFS/keepalive/loaded/NAME/sock_ops (systemd 249 or
newer; NAME holds letters, digits, '-', '_' and '@').
`

const defaultBpffs = "/sys/fs/bpf"

func cgroupMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "keepalive: cgroup needs a command\n"+cgroupUsage)
		return 2
	}
	switch args[0] {
	case "attach":
		return cgroupAttach(args[1:], stdout, stderr)
	case "load":
		return cgroupLoad(args[1:], stdout, stderr)
	case "detach", "unload":
		return cgroupDetach(args[0], args[1:], stdout, stderr)
	case "status":
		return cgroupStatus(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, cgroupUsage)
		return 0
	}
	fmt.Fprintf(stderr, "keepalive: cgroup %q is not a command: want attach, detach, status, load or unload\n%s", args[0], cgroupUsage)
	return 2
}

// parseInterleaved parses flags that may come before or after the
// positional arguments (`attach CGROUP --idle 60` as well).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// attachArgs is what attach and load read from their arguments: the
// settings, where they came from, the one positional argument and bpffs.
type attachArgs struct {
	policy sockops.Policy
	from   string
	arg    string
	bpffs  string
}

// parseAttach reads attach's or load's arguments; code is the exit status
// when they are refused (each reason said, with nothing after it).
func parseAttach(verb, what, nothing string, args []string, stderr io.Writer) (a attachArgs, code int) {
	fs := flag.NewFlagSet("keepalive cgroup "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pol := addPolicyFlags(fs)
	bpffs := fs.String("bpffs", defaultBpffs, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: cgroup %s: %v\n%s", verb, err, cgroupUsage)
		return a, 2
	}
	s, from, ok := pol.settings(fs, "the cgroup mode", nothing, stderr)
	if !ok {
		return a, 2
	}
	if s.Default.Flags&sockops.Force != 0 && len(s.Rules) > 0 {
		// The setsockopt program runs before a connection has its far
		// end, so it cannot know the connection's rule.
		fmt.Fprintf(stderr, "keepalive: cgroup %s: --force (or KEEPALIVE=force) and rules by destination cannot be "+
			"combined in the cgroup mode: drop one of them (the library's KEEPALIVE=force takes rules)\n%s\n", verb, nothing)
		return a, 2
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "keepalive: cgroup %s needs exactly one %s, got %d argument(s)\n%s\n", verb, what, len(pos), nothing)
		return a, 2
	}
	return attachArgs{s, from, pos[0], *bpffs}, 0
}

func cgroupAttach(args []string, stdout, stderr io.Writer) int {
	const nothing = "keepalive: nothing was attached"
	a, code := parseAttach("attach", "CGROUP (a cgroup v2 directory or a systemd unit)", nothing, args, stderr)
	if code != 0 {
		return code
	}
	cg, err := cgroupv2.Resolve(a.arg, true)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
		return 1
	}
	return attachTo(cg, a, nothing, stdout, stderr)
}

// attachTo attaches the program with a's settings to cg: attach's work,
// and apply --attach's before it applies.
func attachTo(cg cgroupv2.Dir, a attachArgs, nothing string, stdout, stderr io.Writer) int {
	dir := pins.AttachedDir(a.bpffs, cg.Path)
	if err := pins.Prepare(a.bpffs); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
		return 1
	}
	if err := pins.Attach(dir, cg, a.policy); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, attachedNow(dir, cg))
		return 1
	}
	done(stdout, stderr, "attached to "+cg.Path, dir, a)
	return 0
}

func cgroupLoad(args []string, stdout, stderr io.Writer) int {
	const nothing = "keepalive: nothing was loaded"
	a, code := parseAttach("load", "NAME (the directory under BPFFS/keepalive/loaded)", nothing, args, stderr)
	if code != 0 {
		return code
	}
	if err := pins.CheckLoadName(a.arg); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
		return 2
	}
	dir := pins.LoadedDir(a.bpffs, a.arg)
	if why := systemdTooOld(); why != "" {
		fmt.Fprintf(stderr, "keepalive: %s\n%s\n", why, nothing)
		return 1
	}
	if err := pins.Prepare(a.bpffs); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
		return 1
	}
	if err := pins.Load(dir, a.policy); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, loadedNow(dir, a.arg, nothing))
		return 1
	}
	where := "loaded for BPFProgram=sock_ops:" + filepath.Join(dir, pins.OpsProg)
	if a.policy.Default.Flags&sockops.Force != 0 {
		where += " and BPFProgram=setsockopt:" + filepath.Join(dir, pins.SoptProg)
	}
	done(stdout, stderr, where, dir, a)
	return 0
}

// done is the line of a successful attach or load, and the note for a
// kernel that cannot tell a program's own keepalive.
func done(stdout, stderr io.Writer, where, dir string, a attachArgs) {
	what := describe(a.policy.Default)
	if n := len(a.policy.Rules); n > 0 {
		what = fmt.Sprintf("%d rules by destination first (keepalive cgroup status lists them), else %s", n, what)
	}
	fmt.Fprintf(stdout, "keepalive: %s: %s; pinned in %s%s\n", where, what, dir, a.from)
	if release := pins.KernelRelease(); a.policy.Default.Flags&sockops.Force == 0 && !sockops.AnswersKeepalive(release) {
		fmt.Fprintf(stderr, "keepalive: note: Linux %s cannot tell the program whether a connection's own program turned keepalive on "+
			"before connect (that needs 6.1), so such connections get these settings too, as with --force; status counts them as UNANSWERED\n", release)
	}
}

// systemdTooOld is the line refusing a load on a host whose systemd ignores
// BPFProgram= (before 249, with only a journal line), where a unit using the
// load would run without keepalive and look fine; "" elsewhere, and where
// there is no systemctl to ask.
func systemdTooOld() string {
	out, err := exec.Command("systemctl", "--version").Output()
	if err != nil {
		return ""
	}
	var v int
	if n, _ := fmt.Sscanf(string(out), "systemd %d", &v); n != 1 || v >= 249 {
		return ""
	}
	return fmt.Sprintf("systemd %d here ignores BPFProgram= (it needs systemd 249 or newer), so a unit using this load would run "+
		"without keepalive: attach from the unit instead, with the ExecStartPre= drop-in keepalive-cgroup.conf "+
		"(ExecStartPre=+keepalive cgroup attach ... %%n; see keepalive(1))", v)
}

// attachedNow says, after a failed attach, what is attached to cg now, as
// the kernel has it: Attach put the earlier settings back, if there were any.
func attachedNow(dir string, cg cgroupv2.Dir) string {
	now, err := pins.Current(dir, cg)
	if err != nil {
		return fmt.Sprintf("keepalive: cannot tell what is attached to %s now: %v; see keepalive cgroup status", cg.Path, err)
	}
	others := ""
	if now.Others > 0 {
		others = fmt.Sprintf(" (%d other sock_ops program(s), not keepalive's, are attached there)", now.Others)
	}
	if now.Settings == nil {
		return fmt.Sprintf("keepalive: nothing of keepalive's is attached to %s%s", cg.Path, others)
	}
	return fmt.Sprintf("keepalive: %s keeps the earlier settings: %s%s", cg.Path, describe(*now.Settings), others)
}

// loadedNow is attachedNow for a load: its pinned program and settings.
func loadedNow(dir, name, nothing string) string {
	if _, err := os.Stat(dir); err != nil {
		return nothing
	}
	e := pins.ReadLoaded(dir)
	if e.State != pins.StateLoaded || e.Settings == nil {
		return fmt.Sprintf("keepalive: the load %s is %s; see keepalive cgroup status", name, e.State)
	}
	return fmt.Sprintf("keepalive: the load %s keeps the earlier settings: %s", name, describe(*e.Settings))
}

// values is each setting in its unit, in sockops.SettingFields' order;
// unset is said for one that keeps the kernel's value.
func values(s sockops.Settings, unset string) []string {
	var out []string
	for _, f := range sockops.SettingFields {
		if s.Flags&f.Flag == 0 {
			out = append(out, unset)
		} else {
			out = append(out, fmt.Sprintf("%d%s", f.Value(s), f.Unit))
		}
	}
	return out
}

// describe is the settings for humans.
func describe(s sockops.Settings) string {
	var parts []string
	for i, v := range values(s, "kernel's") {
		parts = append(parts, sockops.SettingFields[i].Word+" "+v)
	}
	if s.Flags&sockops.Force != 0 {
		parts[len(parts)-1] += ", forced"
	}
	return strings.Join(parts, ", ")
}

func cgroupDetach(verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive cgroup "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bpffs := fs.String("bpffs", defaultBpffs, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) != 1 {
		if err == nil {
			err = fmt.Errorf("needs exactly one argument, got %d", len(pos))
		}
		fmt.Fprintf(stderr, "keepalive: cgroup %s: %v\n%s", verb, err, cgroupUsage)
		return 2
	}
	var dir, what string
	if verb == "detach" {
		// The cgroup may be gone already (a stopped unit): its pins are
		// still ours to remove.
		cg, err := resolveGone(pos[0], *bpffs)
		if err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 1
		}
		dir = pins.AttachedDir(*bpffs, cg.Path)
		what = cg.Path
	} else {
		if err := pins.CheckLoadName(pos[0]); err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 2
		}
		dir = pins.LoadedDir(*bpffs, pos[0])
		what = dir
	}
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "keepalive: nothing of keepalive cgroup at %s (no %s)\n", what, dir)
		return 1
	}
	if err := pins.Remove(dir); err != nil {
		fmt.Fprintf(stderr, "keepalive: %s: %v\n", dir, err)
		return 1
	}
	if verb == "detach" {
		fmt.Fprintf(stdout, "keepalive: detached from %s\n", what)
	} else {
		fmt.Fprintf(stdout, "keepalive: unloaded %s (units that attached it with BPFProgram= keep it until they stop)\n", what)
	}
	return 0
}

// resolveGone is cgroupv2.Resolve for detach and status, which also work
// on a cgroup that is gone: a unit that stopped has no cgroup for systemd
// to show, but the pins of the one cgroup of that name are still found.
func resolveGone(arg, bpffs string) (cgroupv2.Dir, error) {
	cg, err := cgroupv2.Resolve(arg, false)
	if err == nil || strings.Contains(arg, "/") {
		return cg, err
	}
	var found []string
	entries, _ := pins.List(bpffs, true)
	for _, e := range entries {
		if e.Where != "" && filepath.Base(e.Where) == arg {
			found = append(found, e.Where)
		}
	}
	if len(found) == 1 {
		return cgroupv2.Dir{Path: found[0]}, nil
	}
	if len(found) > 1 {
		return cg, fmt.Errorf("%w; pins of %d cgroups named %s are kept (%s): give the one meant", err, len(found), arg, strings.Join(found, ", "))
	}
	return cg, err
}

const statusNotes = `- is the kernel's value. STATE: attached; loaded (pinned for BPFProgram=, CGROUP is the pin);
gone (the cgroup was removed: detach); remade (removed and made again, as systemd does on a
restart: attach again); unattached or incomplete (pins without their program: attach or detach).
Counters since the first attach or load: CONFIGURED connections given the settings; LEFT-ALONE
ones whose program had turned keepalive on itself; REFUSED ones where the kernel refused an
option; REWRITTEN setsockopt calls of the program's replaced by --force; UNANSWERED connections
configured because the kernel could not say whether their program had turned keepalive on
itself (Linux before 6.1: they get the settings, as with --force); TIMED-OUT configured
connections the kernel closed because keepalive probes or the user timeout went unanswered
(- where the kernel cannot count them: before Linux 5.10, or without BTF).
`

func cgroupStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive cgroup status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bpffs := fs.String("bpffs", defaultBpffs, "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) > 1 {
		if err == nil {
			err = fmt.Errorf("takes at most one CGROUP, got %d", len(pos))
		}
		fmt.Fprintf(stderr, "keepalive: cgroup status: %v\n%s", err, cgroupUsage)
		return 2
	}
	only, onlyPath := "", ""
	if len(pos) == 1 {
		cg, err := resolveGone(pos[0], *bpffs)
		if err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 1
		}
		only, onlyPath = filepath.Base(pins.AttachedDir(*bpffs, cg.Path)), cg.Path
	}
	root := pins.Root(*bpffs)
	entries, err := pins.List(*bpffs, only != "")
	if errors.Is(err, os.ErrPermission) {
		fmt.Fprintf(stderr, "keepalive: cannot read %s: %v: cgroup status needs root\n", root, errors.Unwrap(err))
		return 1
	}
	if only != "" {
		entries = slices.DeleteFunc(entries, func(e pins.Entry) bool { return filepath.Base(e.Dir) != only })
	}
	if *asJSON {
		r := cgroupReport{Attachments: []attachmentReport{}}
		for _, e := range entries {
			r.Attachments = append(r.Attachments, attachmentOf(e))
		}
		if st := writeJSON(stdout, stderr, r); st != 0 || len(entries) > 0 || only == "" {
			return st
		}
	}
	if len(entries) == 0 {
		if only != "" {
			fmt.Fprintf(stderr, "keepalive: keepalive cgroup is not attached to %s (nothing in %s)\n", onlyPath, filepath.Join(root, "attached"))
			return 1
		}
		fmt.Fprintf(stdout, "keepalive: no cgroup has keepalive attached (nothing in %s)\n", root)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := []string{"CGROUP", "STATE"}
	for _, f := range sockops.SettingFields {
		head = append(head, f.Column)
	}
	head = append(head, "FORCE")
	for _, f := range sockops.CounterFields {
		head = append(head, f.Column)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, e := range entries {
		cells := []string{e.Name(), string(e.State)}
		if s := e.Settings; s != nil {
			force := "no"
			if s.Flags&sockops.Force != 0 {
				force = "yes"
			}
			cells = append(append(cells, values(*s, "-")...), force)
		} else {
			cells = append(cells, slices.Repeat([]string{"?"}, len(sockops.SettingFields)+1)...)
		}
		for i := 0; i < sockops.NumCounters; i++ {
			switch {
			case e.Counters == nil:
				cells = append(cells, "?")
			case !e.Counted(i):
				cells = append(cells, "-") // not counted by this program: not 0
			default:
				cells = append(cells, strconv.FormatUint(e.Counters[i], 10))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	for _, e := range entries {
		if e.WhereErr != nil {
			fmt.Fprintf(stdout, "keepalive: %v\n", e.WhereErr)
		}
	}
	tw.Flush()
	for _, e := range entries {
		writeRules(stdout, e)
	}
	fmt.Fprint(stdout, statusNotes)
	return 0
}

// writeRules is an entry's rules by destination, in the order they are
// tried, with each one's counters, and the default's.
func writeRules(stdout io.Writer, e pins.Entry) {
	rules := e.ActiveRules()
	if len(rules) == 0 {
		return
	}
	fmt.Fprintf(stdout, "\nrules by destination of %s, first match:\n", e.Name())
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := []string{"LINE", "RULE"}
	for _, i := range sockops.RuleCounters {
		head = append(head, sockops.CounterFields[i].Column)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	row := func(line, text string, c []uint64) {
		cells := []string{line, text}
		for _, i := range sockops.RuleCounters {
			cells = append(cells, strconv.FormatUint(c[i], 10))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	for i, r := range rules {
		row(strconv.Itoa(int(r.Line)), r.Text, e.RuleCounters[i])
	}
	row("-", "the default: "+describe(*e.Settings), e.RuleCounters[sockops.Default])
	tw.Flush()
}
