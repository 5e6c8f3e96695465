package pins

// What is pinned and attached, read back from the kernel.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/cgroupv2"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// Kind is what an entry is: an attachment to a cgroup, or a load for
// systemd's BPFProgram=.
type Kind string

const (
	KindAttached Kind = "attached"
	KindLoaded   Kind = "loaded"
)

// State is an entry's state as keepalive cgroup status shows it and its
// JSON and metrics carry it: a documented contract (docs/json.md).
type State string

const (
	// StateAttached: the program is attached to the cgroup named.
	StateAttached State = "attached"
	// StateGone: the cgroup was removed (a stopped unit): detach.
	StateGone State = "gone"
	// StateRemade: removed and made again, as systemd does on a restart;
	// the program went with the old one: attach again.
	StateRemade State = "remade"
	// StateUnattached: pins without their link.
	StateUnattached State = "unattached"
	// StateLoaded: a load's program is pinned, for BPFProgram=.
	StateLoaded State = "loaded"
	// StateIncomplete: a load's pins without its program.
	StateIncomplete State = "incomplete"
)

// Entry is one attached cgroup or one load, read back from the kernel.
type Entry struct {
	Kind Kind
	Dir  string // its pins' directory
	// Where is the cgroup, or a load's sock_ops pin; "" when the cgroup's
	// path is lost (WhereErr says why).
	Where    string
	WhereErr error
	State    State
	Settings *sockops.Settings
	Counters []uint64
	// Rules are the rules by destination the program reads (when the
	// settings have HasDests), RuleCounters each rule's counters and,
	// last (sockops.Default), those of connections no rule took.
	Rules        []sockops.Rule
	RuleCounters [][]uint64
}

// Name is the entry for humans: its cgroup, or its pins' directory when the
// path is lost.
func (e Entry) Name() string {
	if e.Where == "" {
		return e.Dir
	}
	return e.Where
}

// List reads every attachment (and, unless attachedOnly, every load) under
// bpffs. A bpffs without keepalive's directories has none; one that cannot
// be read is an error (cgroup status needs root).
func List(bpffs string, attachedOnly bool) ([]Entry, error) {
	var out []Entry
	for _, k := range []Kind{KindAttached, KindLoaded} {
		if k == KindLoaded && attachedOnly {
			break
		}
		dir := filepath.Join(Root(bpffs), string(k))
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, err
		}
		for _, d := range ents {
			if k == KindAttached {
				out = append(out, ReadAttached(filepath.Join(dir, d.Name())))
			} else {
				out = append(out, ReadLoaded(filepath.Join(dir, d.Name())))
			}
		}
	}
	return out, nil
}

// Counted tells whether counter c is counted by the entry's program:
// TimedOut is only where the kernel took the program that counts it, and a
// counter that is not counted is not 0.
func (e Entry) Counted(c int) bool {
	return e.Counters != nil && (c != sockops.TimedOut || e.Settings != nil && e.Settings.Flags&sockops.CountsTimedOut != 0)
}

// ActiveRules are the rules the entry's program reads, with their counters
// in RuleCounters: none when the settings say there are none, or the
// counters could not be read.
func (e Entry) ActiveRules() []sockops.Rule {
	if e.Settings == nil || e.Settings.Flags&sockops.HasDests == 0 || e.RuleCounters == nil {
		return nil
	}
	return e.Rules
}

// ReadAttached reads one attached cgroup's directory.
func ReadAttached(dir string) Entry {
	e := readMaps(dir)
	e.Kind, e.Dir = KindAttached, dir
	e.Where, e.WhereErr = CgroupOf(dir)
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinOpsLink), nil)
	if err != nil {
		e.State = StateUnattached
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
	case e.Where == "" || unix.Stat(e.Where, &st) != nil:
		e.State = StateGone
	case id == 0 || st.Ino != id:
		e.State = StateRemade
	default:
		e.State = StateAttached
	}
	return e
}

// ReadLoaded reads one load's directory.
func ReadLoaded(dir string) Entry {
	e := readMaps(dir)
	e.Kind, e.Dir = KindLoaded, dir
	e.Where, e.State = filepath.Join(dir, OpsProg), StateLoaded
	if _, err := os.Stat(e.Where); err != nil {
		e.State = StateIncomplete
	}
	return e
}

// ErrPathLost is pins whose cgroup's path can be read neither from their
// path map nor from their (shortened) name.
var ErrPathLost = errors.New("the cgroup's path is lost: detach it by this directory's cgroup, or remove the directory")

// CgroupOf is the path of the cgroup whose pins dir holds: from the path
// map, else (pins of a release without it) from the name.
func CgroupOf(dir string) (string, error) {
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinCgroup), nil); err == nil {
		defer m.Close()
		var b []byte
		if m.Lookup(uint32(0), &b) == nil {
			if i := bytes.IndexByte(b, 0); i > 0 {
				return string(b[:i]), nil
			}
		}
	}
	if p, ok := PathOf(filepath.Base(dir)); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s: %w", dir, ErrPathLost)
}

// Now is what keepalive has attached to a cgroup, as the kernel has it.
type Now struct {
	// Settings are those of keepalive's program attached to the cgroup;
	// nil when none of keepalive's is attached.
	Settings *sockops.Settings
	// Others counts the sock_ops programs on the cgroup that are not
	// keepalive's (systemd's BPFProgram=, another tool).
	Others int
}

// Current reads what is attached to cg now: the link pinned in dir, whether
// the kernel lists its program on the cgroup, and the settings that program
// reads. It asks the kernel, not the directory.
func Current(dir string, cg cgroupv2.Dir) (Now, error) {
	var now Now
	fd, err := unix.Open(cg.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return now, fmt.Errorf("opening %s: %w", cg.Path, err)
	}
	defer unix.Close(fd)
	q, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupSockOps})
	if err != nil {
		return now, errors.New(Explain("listing the programs of "+cg.Path, err))
	}
	var ours ebpf.ProgramID
	if l, err := link.LoadPinnedLink(filepath.Join(dir, pinOpsLink), nil); err == nil {
		if info, err := l.Info(); err == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == cg.ID {
			ours = info.Program
		}
		l.Close()
	}
	now.Others = len(q.Programs)
	for _, p := range q.Programs {
		if ours != 0 && p.ID == ours {
			now.Others--
			if e := readMaps(dir); e.Settings != nil {
				now.Settings = e.Settings
			} else {
				now.Settings = &sockops.Settings{}
			}
		}
	}
	return now, nil
}
