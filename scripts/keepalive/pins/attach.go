package pins

// Attaching, loading and removing the programs, each change undone when
// it fails part way.

import (
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

// Attach attaches the program with policy p to cg, its pins in dir. A
// repeated attach replaces the settings and rules and leaves one program. When it
// fails, the settings the cgroup had before are put back, and a directory
// that held none is removed: what Now then reads is what is attached.
func Attach(dir string, cg cgroupv2.Dir, p sockops.Policy) (err error) {
	m, _, undo, err := openForChange(dir, true)
	if err != nil {
		return err
	}
	defer func() { undo(err) }()
	path := make([]byte, unix.PathMax)
	copy(path, cg.Path)
	if err := m.path.Put(uint32(0), path); err != nil {
		return fmt.Errorf("writing the cgroup's path: %w", err)
	}
	ops, counted, err := newSockOps(m)
	if err != nil {
		return err
	}
	defer ops.Close()
	if counted {
		p.Default.Flags |= sockops.CountsTimedOut
	}
	s, err := writePolicy(m, p)
	if err != nil {
		return err
	}
	if err := attachOrUpdate(filepath.Join(dir, pinOpsLink), cg, ebpf.AttachCGroupSockOps, ops); err != nil {
		return err
	}
	soptLink := filepath.Join(dir, pinSoptLink)
	if s.Flags&sockops.Force == 0 {
		return removeLink(soptLink)
	}
	sopt, err := ebpf.NewProgram(sockops.Setsockopt(m.settings, m.counters))
	if err != nil {
		return errors.New(Explain("loading the cgroup/setsockopt program", err))
	}
	defer sopt.Close()
	return attachOrUpdate(soptLink, cg, ebpf.AttachCGroupSetsockopt, sopt)
}

// newSockOps loads the sock_ops program that counts timed-out connections
// where the kernel takes it (its BTF gives sk_err's place, and it lets a
// sock_ops program read it: Linux 5.10 and later), else the one that does
// not; counted says which.
func newSockOps(m maps) (prog *ebpf.Program, counted bool, err error) {
	if off, oerr := sockops.SkErrOffset(); oerr == nil {
		if p, perr := ebpf.NewProgram(sockops.SockOps(m.sockOps(), off)); perr == nil {
			return p, true, nil
		}
	}
	p, err := ebpf.NewProgram(sockops.SockOps(m.sockOps(), -1))
	if err != nil {
		return nil, false, errors.New(Explain("loading the sock_ops program", err))
	}
	return p, false, nil
}

// attachOrUpdate puts prog in the place of the program of the link pinned at
// path when that link still holds this cgroup, so that an attach repeated
// leaves one program; otherwise (first attach, or a cgroup removed and made
// again under the same path, as systemd does on restart) it attaches anew.
func attachOrUpdate(path string, cg cgroupv2.Dir, typ ebpf.AttachType, prog *ebpf.Program) error {
	old, err := link.LoadPinnedLink(path, nil)
	if err == nil {
		info, ierr := old.Info()
		if ierr == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == cg.ID {
			err := old.Update(prog)
			old.Close()
			if err != nil {
				return errors.New(Explain("replacing the program of "+path, err))
			}
			return nil
		}
		old.Unpin()
		old.Close()
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cg.Path, Attach: typ, Program: prog})
	if err != nil {
		return errors.New(Explain("attaching to "+cg.Path, err))
	}
	defer l.Close()
	if err := l.Pin(path); err != nil {
		l.Close()
		if errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("pinning the link at %s: %w: %s", path, err, kernelNeeds)
		}
		return fmt.Errorf("pinning the link at %s: %w", path, err)
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
		return fmt.Errorf("detaching %s: %w", path, err)
	}
	return l.Unpin()
}

// Load pins the programs and maps for systemd's BPFProgram= and attaches
// nothing. A repeated load rewrites the settings, which programs already
// attached from these pins read on their next connection; the pinned
// programs are kept so that such attachments stay the ones pinned. When it
// fails, as Attach.
func Load(dir string, p sockops.Policy) (err error) {
	m, prev, undo, err := openForChange(dir, false)
	if err != nil {
		return err
	}
	defer func() { undo(err) }()
	pin := func(name string, prog *ebpf.Program) error {
		defer prog.Close()
		path := filepath.Join(dir, name)
		if err := prog.Pin(path); err != nil {
			return fmt.Errorf("pinning %s: %w", path, err)
		}
		return nil
	}
	// A program pinned already stays: units attached from it keep it.
	// One pinned before the rules' maps were made does not read them:
	// it is replaced, for the units started from now on.
	if prog, err := ebpf.LoadPinnedProgram(filepath.Join(dir, OpsProg), nil); err == nil && !m.rulesMade {
		prog.Close()
		p.Default.Flags |= prev.Flags & sockops.CountsTimedOut
	} else {
		if err == nil {
			prog.Close()
			os.Remove(filepath.Join(dir, OpsProg))
		}
		ops, counted, err := newSockOps(m)
		if err != nil {
			return err
		}
		if counted {
			p.Default.Flags |= sockops.CountsTimedOut
		}
		if err := pin(OpsProg, ops); err != nil {
			return err
		}
	}
	s, err := writePolicy(m, p)
	if err != nil {
		return err
	}
	if s.Flags&sockops.Force == 0 {
		// Without Force in the settings an attached setsockopt program
		// passes every call; the pin goes so the next unit start has none.
		if err := os.Remove(filepath.Join(dir, SoptProg)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if prog, err := ebpf.LoadPinnedProgram(filepath.Join(dir, SoptProg), nil); err == nil {
		prog.Close()
		return nil
	}
	sopt, err := ebpf.NewProgram(sockops.Setsockopt(m.settings, m.counters))
	if err != nil {
		return errors.New(Explain("loading the setsockopt program", err))
	}
	return pin(SoptProg, sopt)
}

// writePolicy writes the rules, then the settings that say whether the
// program reads them, and returns those settings.
func writePolicy(m maps, p sockops.Policy) (sockops.Settings, error) {
	s := p.Default
	if len(p.Rules) > 0 {
		s.Flags |= sockops.HasDests
	}
	if err := writeRules(m, p); err != nil {
		return s, err
	}
	return s, writeSettings(m.settings, s)
}

// Remove detaches the links of dir and removes every pin and dir.
func Remove(dir string) error {
	var first error
	for _, l := range []string{pinOpsLink, pinSoptLink} {
		if err := removeLink(filepath.Join(dir, l)); err != nil && first == nil {
			first = err
		}
	}
	for _, p := range append([]string{OpsProg, SoptProg}, mapPins...) {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
		first = err
	}
	return first
}
