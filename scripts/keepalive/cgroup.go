package main

// keepalive cgroup: keepalive for every TCP connection made in a cgroup v2,
// static and Go programs included, by a BPF sock_ops program (package
// sockops) attached to the cgroup and pinned in bpffs, so that it outlives
// this command.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
	"github.com/libkeepalive/libkeepalive/shim"
)

const cgroupUsage = `usage: keepalive cgroup attach [--idle S] [--interval S] [--count N] [--user-timeout S] [--force] CGROUP
       keepalive cgroup detach CGROUP
       keepalive cgroup status [CGROUP]
       keepalive cgroup load [--idle S] [--interval S] [--count N] [--user-timeout S] [--force] NAME
       keepalive cgroup unload NAME

Turns keepalive on for every TCP connection established in CGROUP (a cgroup
v2 directory, or a systemd unit such as legacy.service or system.slice) and
its children, static and Go programs included, with a BPF program that stays
attached after this command ends (pinned under BPFFS/keepalive). Needs root.

  --idle S, --interval S, --count N, --user-timeout S
                      as for the preload (KEEPIDLE, KEEPINTVL, KEEPCNT,
                      KEEPUSERTIMEOUT); an option not given keeps the kernel's
  --force             also for connections whose program turned keepalive on
                      itself, and keep these values when the program later
                      sets its own (a cgroup/setsockopt program rewrites them)
  --bpffs DIR         the bpffs to pin in (default /sys/fs/bpf; mounted if not)

attach again replaces the settings (one program per cgroup); detach removes
the program and its pins; status lists the attached cgroups with their
settings and counters. load pins the program and its settings under
BPFFS/keepalive/loaded/NAME without attaching it, for systemd's
BPFProgram=sock_ops:BPFFS/keepalive/loaded/NAME/sock_ops.
`

const defaultBpffs = "/sys/fs/bpf"

// Pin names inside a cgroup's (or a load's) directory.
const (
	pinSettings    = "settings"
	pinCounters    = "counters"
	pinOpsLink     = "sock_ops_link"
	pinSoptLink    = "setsockopt_link"
	pinOpsProg     = "sock_ops"   // load only
	pinSoptProg    = "setsockopt" // load only
	bpfFsMagic     = 0xcafe4a11
	cgroup2Magic   = 0x63677270
	kernelNeeds    = "keepalive cgroup needs Linux 5.9 or newer with BPF (sock_ops programs with bpf_setsockopt of the keepalive options, cgroup links)"
	permissionNote = "loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)"
)

func cgroupMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "keepalive: cgroup needs a command\n"+cgroupUsage)
		return 2
	}
	switch args[0] {
	case "attach", "load":
		return cgroupAttach(args[0], args[1:], stdout, stderr)
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

// settingsFromFlags checks each option given with the library's rules and
// messages; ok is false when one is bad (each bad one already reported).
func settingsFromFlags(values []*string, set map[string]bool, force bool, stderr io.Writer) (s sockops.Settings, ok bool) {
	env := map[string]string{}
	ok = true
	for i, o := range options {
		if !set[o.flag] {
			continue
		}
		r := shim.Rules[o.v]
		if *values[i] == "" {
			fmt.Fprintf(stderr, "keepalive: --%s needs a value: want %s\n", o.flag, r.Want)
			ok = false
			continue
		}
		_, probs := shim.Load(map[string]string{r.Var: *values[i]})
		for _, p := range probs {
			fmt.Fprintf(stderr, "keepalive: --%s %q is %v: want %s\n", o.flag, *values[i], p.Err, r.Want)
			ok = false
		}
		env[r.Var] = *values[i]
	}
	if !ok {
		return s, false
	}
	c, _ := shim.Load(env)
	put := func(st shim.Setting, flag uint32, to *uint32) {
		if st.Set {
			s.Flags |= flag
			*to = uint32(st.Value)
		}
	}
	put(c.Idle.Setting, sockops.HasIdle, &s.Idle)
	put(c.Intvl.Setting, sockops.HasIntvl, &s.Intvl)
	put(c.Cnt.Setting, sockops.HasCnt, &s.Cnt)
	put(c.UserTimeout.Setting, sockops.HasUserTimeout, &s.UserTimeout)
	if force {
		s.Flags |= sockops.Force
	}
	return s, true
}

func cgroupAttach(verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive cgroup "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*string, len(options))
	for i, o := range options {
		values[i] = fs.String(o.flag, "", "")
	}
	force := fs.Bool("force", false, "")
	bpffs := fs.String("bpffs", defaultBpffs, "")
	nothing := "keepalive: nothing was attached"
	if verb == "load" {
		nothing = "keepalive: nothing was loaded"
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: cgroup %s: %v\n%s", verb, err, cgroupUsage)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	s, ok := settingsFromFlags(values, set, *force, stderr)
	if !ok {
		fmt.Fprintln(stderr, nothing)
		return 2
	}
	if len(pos) != 1 {
		what := "CGROUP (a cgroup v2 directory or a systemd unit)"
		if verb == "load" {
			what = "NAME (the directory under " + filepath.Join(*bpffs, "keepalive", "loaded") + ")"
		}
		fmt.Fprintf(stderr, "keepalive: cgroup %s needs exactly one %s, got %d argument(s)\n%s\n", verb, what, len(pos), nothing)
		return 2
	}

	var cg cgroupDir
	var dir string
	if verb == "attach" {
		if cg, err = resolveCgroup(pos[0], true); err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
			return 1
		}
		dir = filepath.Join(*bpffs, "keepalive", "attached", escapePin(cg.path))
	} else {
		if err := checkName(pos[0]); err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
			return 2
		}
		dir = filepath.Join(*bpffs, "keepalive", "loaded", pos[0])
	}
	// Find out about permission and the kernel before touching bpffs.
	rlimit.RemoveMemlock() // kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK
	if probe, err := ebpf.NewMap(sockops.SettingsSpec()); err != nil {
		fmt.Fprintf(stderr, "keepalive: %s\n%s\n", explainBPF("creating a BPF map", err), nothing)
		return 1
	} else {
		probe.Close()
	}
	if err := ensureBpffs(*bpffs); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s\n", err, nothing)
		return 1
	}
	_, statErr := os.Stat(dir)
	fresh := errors.Is(statErr, os.ErrNotExist)
	var where string
	if verb == "attach" {
		err = attach(dir, cg, s)
		where = "attached to " + cg.path
	} else {
		err = load(dir, s)
		where = "loaded for BPFProgram=sock_ops:" + filepath.Join(dir, pinOpsProg)
		if *force {
			where += " and BPFProgram=setsockopt:" + filepath.Join(dir, pinSoptProg)
		}
	}
	if err != nil {
		if fresh {
			removePins(dir)
		}
		fmt.Fprintf(stderr, "keepalive: %v\n", err)
		if fresh {
			fmt.Fprintln(stderr, nothing)
		} else {
			fmt.Fprintln(stderr, "keepalive: the earlier settings may still apply; see keepalive cgroup status")
		}
		return 1
	}
	fmt.Fprintf(stdout, "keepalive: %s: %s; pinned in %s\n", where, describe(s), dir)
	return 0
}

// values is each setting in its unit, in the order idle, interval, count,
// user timeout; unset is said for one that keeps the kernel's value.
func values(s sockops.Settings, unset string) []string {
	v := func(flag, x uint32, unit string) string {
		if s.Flags&flag == 0 {
			return unset
		}
		return fmt.Sprintf("%d%s", x, unit)
	}
	return []string{v(sockops.HasIdle, s.Idle, "s"), v(sockops.HasIntvl, s.Intvl, "s"), v(sockops.HasCnt, s.Cnt, ""),
		v(sockops.HasUserTimeout, s.UserTimeout, "ms")}
}

// describe is the settings for humans.
func describe(s sockops.Settings) string {
	force := ""
	if s.Flags&sockops.Force != 0 {
		force = ", forced"
	}
	v := values(s, "kernel's")
	return fmt.Sprintf("idle %s, interval %s, count %s, user timeout %s%s", v[0], v[1], v[2], v[3], force)
}

// openMaps returns the pinned settings and counters maps of dir, creating
// and pinning them the first time (or when an older layout is found), and
// writes s into the settings.
func openMaps(dir string, s sockops.Settings) (settings, counters *ebpf.Map, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	open := func(name string, spec *ebpf.MapSpec) (*ebpf.Map, error) {
		path := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err == nil {
			if m.Type() == spec.Type && m.ValueSize() == spec.ValueSize && m.MaxEntries() == spec.MaxEntries {
				return m, nil
			}
			m.Close()
			os.Remove(path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		m, err = ebpf.NewMap(spec)
		if err != nil {
			return nil, errors.New(explainBPF("creating a BPF map", err))
		}
		if err := m.Pin(path); err != nil {
			m.Close()
			return nil, fmt.Errorf("pinning %s: %v", path, err)
		}
		return m, nil
	}
	if settings, err = open(pinSettings, sockops.SettingsSpec()); err != nil {
		return nil, nil, err
	}
	if counters, err = open(pinCounters, sockops.CountersSpec()); err != nil {
		settings.Close()
		return nil, nil, err
	}
	if err := settings.Put(uint32(0), s.Marshal()); err != nil {
		settings.Close()
		counters.Close()
		return nil, nil, fmt.Errorf("writing the settings: %v", err)
	}
	return settings, counters, nil
}

func attach(dir string, cg cgroupDir, s sockops.Settings) error {
	settings, counters, err := openMaps(dir, s)
	if err != nil {
		return err
	}
	defer settings.Close()
	defer counters.Close()
	ops, err := ebpf.NewProgram(sockops.SockOps(settings, counters))
	if err != nil {
		return errors.New(explainBPF("loading the sock_ops program", err))
	}
	defer ops.Close()
	if err := attachOrUpdate(filepath.Join(dir, pinOpsLink), cg, ebpf.AttachCGroupSockOps, ops); err != nil {
		return err
	}
	soptLink := filepath.Join(dir, pinSoptLink)
	if s.Flags&sockops.Force == 0 {
		return removeLink(soptLink)
	}
	sopt, err := ebpf.NewProgram(sockops.Setsockopt(settings, counters))
	if err != nil {
		return errors.New(explainBPF("loading the cgroup/setsockopt program", err))
	}
	defer sopt.Close()
	return attachOrUpdate(soptLink, cg, ebpf.AttachCGroupSetsockopt, sopt)
}

// attachOrUpdate puts prog in the place of the program of the link pinned at
// path when that link still holds this cgroup, so that an attach repeated
// leaves one program; otherwise (first attach, or a cgroup removed and made
// again under the same path, as systemd does on restart) it attaches anew.
func attachOrUpdate(path string, cg cgroupDir, typ ebpf.AttachType, prog *ebpf.Program) error {
	old, err := link.LoadPinnedLink(path, nil)
	if err == nil {
		info, ierr := old.Info()
		if ierr == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == cg.id {
			err := old.Update(prog)
			old.Close()
			if err != nil {
				return errors.New(explainBPF("replacing the program of "+path, err))
			}
			return nil
		}
		old.Unpin()
		old.Close()
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cg.path, Attach: typ, Program: prog})
	if err != nil {
		return errors.New(explainBPF("attaching to "+cg.path, err))
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		l.Close()
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("pinning the link at %s: %v: %s", path, err, kernelNeeds)
		}
		return fmt.Errorf("pinning the link at %s: %v", path, err)
	}
	return nil
}

// removeLink detaches and unpins the link pinned at path, if there is one.
func removeLink(path string) error {
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Not a link we can read back: the pin alone is ours to remove.
		return os.Remove(path)
	}
	defer l.Close()
	// Detach ends it even if another process holds it open.
	if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("detaching %s: %v", path, err)
	}
	return l.Unpin()
}

// load pins the programs and maps for systemd's BPFProgram= and attaches
// nothing. A repeated load rewrites the settings, which programs already
// attached from these pins read on their next connection; the pinned
// programs are kept so that such attachments stay the ones pinned.
func load(dir string, s sockops.Settings) error {
	settings, counters, err := openMaps(dir, s)
	if err != nil {
		return err
	}
	defer settings.Close()
	defer counters.Close()
	pin := func(name string, spec *ebpf.ProgramSpec) error {
		path := filepath.Join(dir, name)
		if p, err := ebpf.LoadPinnedProgram(path, nil); err == nil {
			p.Close()
			return nil
		}
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return errors.New(explainBPF("loading the "+name+" program", err))
		}
		defer p.Close()
		if err := p.Pin(path); err != nil {
			return fmt.Errorf("pinning %s: %v", path, err)
		}
		return nil
	}
	if err := pin(pinOpsProg, sockops.SockOps(settings, counters)); err != nil {
		return err
	}
	if s.Flags&sockops.Force == 0 {
		// Without Force in the settings an attached setsockopt program
		// passes every call; the pin goes so the next unit start has none.
		if err := os.Remove(filepath.Join(dir, pinSoptProg)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return pin(pinSoptProg, sockops.Setsockopt(settings, counters))
}

// removePins detaches the links of dir and removes every pin and dir.
func removePins(dir string) error {
	var first error
	for _, l := range []string{pinOpsLink, pinSoptLink} {
		if err := removeLink(filepath.Join(dir, l)); err != nil && first == nil {
			first = err
		}
	}
	for _, p := range []string{pinOpsProg, pinSoptProg, pinSettings, pinCounters} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
		first = err
	}
	return first
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
		cg, err := resolveCgroup(pos[0], false)
		if err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 1
		}
		dir = filepath.Join(*bpffs, "keepalive", "attached", escapePin(cg.path))
		what = cg.path
	} else {
		if err := checkName(pos[0]); err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 2
		}
		dir = filepath.Join(*bpffs, "keepalive", "loaded", pos[0])
		what = dir
	}
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "keepalive: nothing of keepalive cgroup at %s (no %s)\n", what, dir)
		return 1
	}
	if err := removePins(dir); err != nil {
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

const statusNotes = `- is the kernel's value. STATE: attached; loaded (pinned for BPFProgram=, CGROUP is the pin);
gone (the cgroup was removed: detach); remade (removed and made again, as systemd does on a
restart: attach again); unattached or incomplete (pins without their program: attach or detach).
Counters since the first attach or load: CONFIGURED connections given the settings; LEFT-ALONE
ones whose program had turned keepalive on itself; REFUSED ones where the kernel refused an
option; REWRITTEN setsockopt calls of the program's replaced by --force.
`

// entry is one attached cgroup or one load, as status shows it.
type entry struct {
	where, state string
	settings     *sockops.Settings
	counters     []uint64
}

func cgroupStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive cgroup status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bpffs := fs.String("bpffs", defaultBpffs, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) > 1 {
		if err == nil {
			err = fmt.Errorf("takes at most one CGROUP, got %d", len(pos))
		}
		fmt.Fprintf(stderr, "keepalive: cgroup status: %v\n%s", err, cgroupUsage)
		return 2
	}
	only := ""
	if len(pos) == 1 {
		cg, err := resolveCgroup(pos[0], false)
		if err != nil {
			fmt.Fprintf(stderr, "keepalive: %v\n", err)
			return 1
		}
		only = escapePin(cg.path)
	}
	var entries []entry
	root := filepath.Join(*bpffs, "keepalive")
	attached, err := os.ReadDir(filepath.Join(root, "attached"))
	if errors.Is(err, os.ErrPermission) {
		fmt.Fprintf(stderr, "keepalive: cannot read %s: %v: cgroup status needs root\n", root, errors.Unwrap(err))
		return 1
	}
	for _, d := range attached {
		if only != "" && d.Name() != only {
			continue
		}
		entries = append(entries, readEntry(filepath.Join(root, "attached", d.Name()), unescapePin(d.Name()), true))
	}
	if only == "" {
		loaded, _ := os.ReadDir(filepath.Join(root, "loaded"))
		for _, d := range loaded {
			dir := filepath.Join(root, "loaded", d.Name())
			entries = append(entries, readEntry(dir, filepath.Join(dir, pinOpsProg), false))
		}
	}
	if len(entries) == 0 {
		if only != "" {
			fmt.Fprintf(stderr, "keepalive: keepalive cgroup is not attached to %s (nothing in %s)\n", unescapePin(only), filepath.Join(root, "attached"))
			return 1
		}
		fmt.Fprintf(stdout, "keepalive: no cgroup has keepalive attached (nothing in %s)\n", root)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CGROUP\tSTATE\tIDLE\tINTVL\tCNT\tUSER-TIMEOUT\tFORCE\tCONFIGURED\tLEFT-ALONE\tREFUSED\tREWRITTEN")
	for _, e := range entries {
		cells := []string{e.where, e.state}
		if s := e.settings; s != nil {
			force := "no"
			if s.Flags&sockops.Force != 0 {
				force = "yes"
			}
			cells = append(append(cells, values(*s, "-")...), force)
		} else {
			cells = append(cells, "?", "?", "?", "?", "?")
		}
		for i := 0; i < sockops.NumCounters; i++ {
			if e.counters == nil {
				cells = append(cells, "?")
			} else {
				cells = append(cells, strconv.FormatUint(e.counters[i], 10))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	fmt.Fprint(stdout, statusNotes)
	return 0
}

// readEntry reads one directory of pins back from the kernel.
func readEntry(dir, where string, attached bool) entry {
	e := entry{where: where, state: "loaded"}
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinSettings), nil); err == nil {
		var b []byte
		if m.Lookup(uint32(0), &b) == nil {
			if s, err := sockops.UnmarshalSettings(b); err == nil {
				e.settings = &s
			}
		}
		m.Close()
	}
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinCounters), nil); err == nil {
		var b []byte
		if m.Lookup(uint32(0), &b) == nil && len(b) == sockops.CountersSize {
			e.counters = make([]uint64, sockops.NumCounters)
			for i := range e.counters {
				e.counters[i] = nativeUint64(b[8*i:])
			}
		}
		m.Close()
	}
	if !attached {
		if _, err := os.Stat(filepath.Join(dir, pinOpsProg)); err != nil {
			e.state = "incomplete"
		}
		return e
	}
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinOpsLink), nil)
	if err != nil {
		e.state = "unattached"
		return e
	}
	defer l.Close()
	info, err := l.Info()
	var id uint64
	if err == nil && info.Cgroup() != nil {
		id = info.Cgroup().CgroupId
	}
	var st unix.Stat_t
	switch {
	case unix.Stat(where, &st) != nil:
		e.state = "gone"
	case id == 0 || st.Ino != id:
		e.state = "remade"
	default:
		e.state = "attached"
	}
	return e
}

func nativeUint64(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }

// cgroupDir is a resolved cgroup: its absolute path and its id (the
// directory's inode number on cgroup v2, as BPF links report it).
type cgroupDir struct {
	path string
	id   uint64
}

// resolveCgroup turns a directory or a systemd unit into the cgroup v2
// directory. With mustExist false a directory that is gone still resolves
// (detach and status of a stopped unit's pins).
func resolveCgroup(arg string, mustExist bool) (cgroupDir, error) {
	path := arg
	if !strings.Contains(arg, "/") && arg != "." && arg != ".." {
		if _, err := os.Stat(arg); err != nil {
			p, err := unitCgroup(arg)
			if err != nil {
				return cgroupDir{}, err
			}
			path = p
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return cgroupDir{}, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Statfs(abs, &sfs); err != nil {
		if !mustExist && errors.Is(err, unix.ENOENT) {
			return cgroupDir{path: abs}, nil
		}
		if _, merr := cgroup2Mounts(); merr != nil {
			return cgroupDir{}, merr
		}
		return cgroupDir{}, fmt.Errorf("cgroup %s: %v: want a cgroup v2 directory or a systemd unit", abs, err)
	}
	if sfs.Type != cgroup2Magic {
		mounts, merr := cgroup2Mounts()
		if merr != nil {
			return cgroupDir{}, merr
		}
		return cgroupDir{}, fmt.Errorf("%s is not a cgroup v2 directory (cgroup v2 is mounted at %s)", abs, strings.Join(mounts, ", "))
	}
	if err := unix.Stat(abs, &st); err != nil {
		return cgroupDir{}, fmt.Errorf("cgroup %s: %v", abs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return cgroupDir{}, fmt.Errorf("%s is not a cgroup v2 directory (a file of the cgroup, not the cgroup)", abs)
	}
	return cgroupDir{path: abs, id: st.Ino}, nil
}

// unitCgroup asks systemd for a unit's cgroup and finds it under the cgroup2
// mount (which is /sys/fs/cgroup/unified on hybrid hosts, not /sys/fs/cgroup).
func unitCgroup(unit string) (string, error) {
	out, err := exec.Command("systemctl", "show", "-p", "ControlGroup", "--value", "--", unit).Output()
	if err != nil {
		detail := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			detail = strings.TrimSpace(strings.SplitN(string(ee.Stderr), "\n", 2)[0])
		}
		return "", fmt.Errorf("%s is neither a directory nor a systemd unit systemctl can show (%s); give the cgroup v2 directory", unit, detail)
	}
	rel := strings.TrimSpace(string(out))
	if rel == "" {
		return "", fmt.Errorf("systemd unit %s has no cgroup (is it running?); start it first, or give the cgroup v2 directory", unit)
	}
	mounts, err := cgroup2Mounts()
	if err != nil {
		return "", err
	}
	return filepath.Join(mounts[0], rel), nil
}

// cgroup2Mounts lists the cgroup2 mount points of /proc/self/mountinfo, the
// one of the whole hierarchy first.
func cgroup2Mounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cannot read /proc/self/mountinfo to find cgroup v2: %v", err)
	}
	defer f.Close()
	var whole, other []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postf) < 1 || postf[0] != "cgroup2" {
			continue
		}
		mp := unescapeMount(fields[4])
		if fields[3] == "/" {
			whole = append(whole, mp)
		} else {
			other = append(other, mp)
		}
	}
	if all := append(whole, other...); len(all) > 0 {
		return all, nil
	}
	return nil, errors.New("no cgroup v2 file system is mounted (no cgroup2 line in /proc/self/mountinfo): keepalive cgroup needs cgroup v2; the preload works without it")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ensureBpffs mounts bpffs at dir unless one is there.
func ensureBpffs(dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err == nil && sfs.Type == bpfFsMagic {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bpffs: cannot make %s: %v", dir, err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("bpffs: cannot mount it at %s: %v (mount -t bpf bpf %s, or give --bpffs)", dir, err, dir)
	}
	return nil
}

// escapePin names a cgroup's pin directory after its path, reversibly:
// '/' becomes '+', and bytes outside a safe set become %XX.
func escapePin(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			b.WriteByte('+')
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._-@:=", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func unescapePin(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '+':
			b.WriteByte('/')
		case c == '%' && i+2 < len(name):
			if n, err := strconv.ParseUint(name[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkName accepts a load's NAME: one path element.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("load NAME %q is not a name: want one path element such as legacy (no '/')", name)
	}
	return nil
}

// explainBPF is one line for a failed BPF call: the cause a human can act
// on (permission, an old kernel) before the kernel's words.
func explainBPF(what string, err error) string {
	release := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	first := strings.SplitN(err.Error(), "\n", 2)[0]
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, os.ErrPermission):
		// The kernel's errno alone: the library's hint about MEMLOCK is
		// not the cause on kernels that account BPF memory to the cgroup.
		var errno unix.Errno
		if errors.As(err, &errno) {
			first = errno.Error()
		}
		return fmt.Sprintf("%s: %s: %s", what, first, permissionNote)
	case errors.Is(err, ebpf.ErrNotSupported), errors.As(err, &ve), errors.Is(err, unix.EINVAL):
		return fmt.Sprintf("%s: %s: this kernel is %s; %s", what, first, release, kernelNeeds)
	}
	return fmt.Sprintf("%s: %s", what, first)
}
