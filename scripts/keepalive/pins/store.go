package pins

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/cgroupv2"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// The pins inside a cgroup's (or a load's) directory.
const (
	pinSettings = "settings"
	pinCounters = "counters"
	pinCgroup   = "cgroup" // attach only: the cgroup's path, for status
	pinOpsLink  = "sock_ops_link"
	pinSoptLink = "setsockopt_link"
	// OpsProg and SoptProg are a load's programs, for BPFProgram=.
	OpsProg  = "sock_ops"
	SoptProg = "setsockopt"
)

const (
	bpfFsMagic     = 0xcafe4a11
	kernelNeeds    = "keepalive cgroup needs Linux 5.9 or newer with BPF (sock_ops programs with bpf_setsockopt of the keepalive options, cgroup links)"
	permissionNote = "loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)"
)

// Root is the directory of all of keepalive's pins in a bpffs.
func Root(bpffs string) string { return filepath.Join(bpffs, "keepalive") }

// AttachedDir is the directory of a cgroup's pins.
func AttachedDir(bpffs, cgroup string) string {
	return filepath.Join(Root(bpffs), "attached", Name(cgroup))
}

// LoadedDir is the directory of a load's pins; name passed CheckLoadName.
func LoadedDir(bpffs, name string) string { return filepath.Join(Root(bpffs), "loaded", name) }

// pathSpec is the map holding the attached cgroup's path: status names the
// cgroup from it, shortened name or not, even once the cgroup is gone.
func pathSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_cgroup", Type: ebpf.Array, KeySize: 4, ValueSize: unix.PathMax, MaxEntries: 1}
}

// Probe finds out about permission and the kernel before bpffs is touched.
func Probe() error {
	m, err := ebpf.NewMap(sockops.SettingsSpec())
	if err != nil {
		return errors.New(Explain("creating a BPF map", err))
	}
	m.Close()
	return nil
}

// Prepare readies this process and bpffs for an attach or a load: the
// memory limit lifted (kernels before 5.11 charge BPF memory to
// RLIMIT_MEMLOCK), the permission and the kernel probed before bpffs is
// touched, bpffs mounted at dir unless one is there.
func Prepare(bpffs string) error {
	rlimit.RemoveMemlock()
	if err := Probe(); err != nil {
		return err
	}
	return EnsureBpffs(bpffs)
}

// EnsureBpffs mounts bpffs at dir unless one is there.
func EnsureBpffs(dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err == nil && uint32(sfs.Type) == bpfFsMagic {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if inside, rest := withinBpffs(dir); inside && strings.Contains(rest, ".") {
			return fmt.Errorf("bpffs: cannot make %s: bpffs refuses names that hold a '.' (%s); give --bpffs a path without one", dir, rest)
		}
		return fmt.Errorf("bpffs: cannot make %s: %v", dir, err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("bpffs: cannot mount it at %s: %v (mount -t bpf bpf %s, or give --bpffs)", dir, err, dir)
	}
	return nil
}

// withinBpffs tells whether the nearest existing ancestor of dir is on a
// bpffs, and the part of dir below it.
func withinBpffs(dir string) (bool, string) {
	rest := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var sfs unix.Statfs_t
		if err := unix.Statfs(d, &sfs); err == nil {
			return uint32(sfs.Type) == bpfFsMagic, rest
		}
		if d == "/" || d == "." {
			return false, rest
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}

// maps are a directory's pinned maps.
type maps struct {
	settings, counters, path *ebpf.Map
}

func (m maps) close() {
	for _, x := range []*ebpf.Map{m.settings, m.counters, m.path} {
		if x != nil {
			x.Close()
		}
	}
}

// openMaps returns the pinned maps of dir, creating and pinning them the
// first time (or when an older layout is found); the path map only when
// withPath. fresh says the settings map is new: nothing has read it yet.
func openMaps(dir string, withPath bool) (m maps, fresh bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, false, fmt.Errorf("making %s: %v", dir, err)
	}
	made := map[string]bool{}
	open := func(name string, spec *ebpf.MapSpec) (*ebpf.Map, error) {
		path := filepath.Join(dir, name)
		x, err := ebpf.LoadPinnedMap(path, nil)
		if err == nil {
			if x.Type() == spec.Type && x.ValueSize() == spec.ValueSize && x.MaxEntries() == spec.MaxEntries {
				return x, nil
			}
			x.Close()
			os.Remove(path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		x, err = ebpf.NewMap(spec)
		if err != nil {
			return nil, errors.New(Explain("creating a BPF map", err))
		}
		if err := x.Pin(path); err != nil {
			x.Close()
			return nil, fmt.Errorf("pinning %s: %v", path, err)
		}
		made[name] = true
		return x, nil
	}
	if m.settings, err = open(pinSettings, sockops.SettingsSpec()); err == nil {
		if m.counters, err = open(pinCounters, sockops.CountersSpec()); err == nil && withPath {
			m.path, err = open(pinCgroup, pathSpec())
		}
	}
	if err != nil {
		m.close()
		return maps{}, made[pinSettings], err
	}
	return m, made[pinSettings], nil
}

func readSettings(m *ebpf.Map) (s sockops.Settings, ok bool) {
	var b []byte
	if m.Lookup(uint32(0), &b) != nil {
		return s, false
	}
	s, err := sockops.UnmarshalSettings(b)
	return s, err == nil
}

func writeSettings(m *ebpf.Map, s sockops.Settings) error {
	if err := m.Put(uint32(0), s.Marshal()); err != nil {
		return fmt.Errorf("writing the settings: %v", err)
	}
	return nil
}

// openForChange opens dir's maps for a change of its settings. undo, given
// the change's outcome, closes them and, when the change failed, puts back
// the settings dir had (prev), or removes a directory that held none, so
// that the kernel then holds what it held before.
func openForChange(dir string, withPath bool) (m maps, prev sockops.Settings, undo func(error), err error) {
	m, fresh, err := openMaps(dir, withPath)
	if err != nil {
		if left, _ := os.ReadDir(dir); fresh || len(left) == 0 {
			Remove(dir)
		}
		return m, prev, nil, err
	}
	prev, hadPrev := readSettings(m.settings)
	hadPrev = hadPrev && !fresh
	return m, prev, func(err error) {
		if err != nil && hadPrev {
			writeSettings(m.settings, prev)
		}
		m.close()
		if err != nil && !hadPrev {
			Remove(dir)
		}
	}, nil
}

// Attach attaches the program with settings s to cg, its pins in dir. A
// repeated attach replaces the settings and leaves one program. When it
// fails, the settings the cgroup had before are put back, and a directory
// that held none is removed: what Now then reads is what is attached.
func Attach(dir string, cg cgroupv2.Dir, s sockops.Settings) (err error) {
	m, _, undo, err := openForChange(dir, true)
	if err != nil {
		return err
	}
	defer func() { undo(err) }()
	path := make([]byte, unix.PathMax)
	copy(path, cg.Path)
	if err := m.path.Put(uint32(0), path); err != nil {
		return fmt.Errorf("writing the cgroup's path: %v", err)
	}
	ops, counted, err := newSockOps(m)
	if err != nil {
		return err
	}
	defer ops.Close()
	if counted {
		s.Flags |= sockops.CountsTimedOut
	}
	if err := writeSettings(m.settings, s); err != nil {
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
		if p, perr := ebpf.NewProgram(sockops.SockOps(m.settings, m.counters, off)); perr == nil {
			return p, true, nil
		}
	}
	p, err := ebpf.NewProgram(sockops.SockOps(m.settings, m.counters, -1))
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

// Load pins the programs and maps for systemd's BPFProgram= and attaches
// nothing. A repeated load rewrites the settings, which programs already
// attached from these pins read on their next connection; the pinned
// programs are kept so that such attachments stay the ones pinned. When it
// fails, as Attach.
func Load(dir string, s sockops.Settings) (err error) {
	m, prev, undo, err := openForChange(dir, false)
	if err != nil {
		return err
	}
	defer func() { undo(err) }()
	pin := func(name string, p *ebpf.Program) error {
		defer p.Close()
		path := filepath.Join(dir, name)
		if err := p.Pin(path); err != nil {
			return fmt.Errorf("pinning %s: %v", path, err)
		}
		return nil
	}
	// A program pinned already stays: units attached from it keep it.
	if p, err := ebpf.LoadPinnedProgram(filepath.Join(dir, OpsProg), nil); err == nil {
		p.Close()
		s.Flags |= prev.Flags & sockops.CountsTimedOut
	} else {
		ops, counted, err := newSockOps(m)
		if err != nil {
			return err
		}
		if counted {
			s.Flags |= sockops.CountsTimedOut
		}
		if err := pin(OpsProg, ops); err != nil {
			return err
		}
	}
	if err := writeSettings(m.settings, s); err != nil {
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
	if p, err := ebpf.LoadPinnedProgram(filepath.Join(dir, SoptProg), nil); err == nil {
		p.Close()
		return nil
	}
	sopt, err := ebpf.NewProgram(sockops.Setsockopt(m.settings, m.counters))
	if err != nil {
		return errors.New(Explain("loading the setsockopt program", err))
	}
	return pin(SoptProg, sopt)
}

// Remove detaches the links of dir and removes every pin and dir.
func Remove(dir string) error {
	var first error
	for _, l := range []string{pinOpsLink, pinSoptLink} {
		if err := removeLink(filepath.Join(dir, l)); err != nil && first == nil {
			first = err
		}
	}
	for _, p := range []string{OpsProg, SoptProg, pinSettings, pinCounters, pinCgroup} {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
		first = err
	}
	return first
}

// Entry is one attached cgroup or one load, read back from the kernel.
type Entry struct {
	Where    string // the cgroup, or a load's sock_ops pin
	State    string // see keepalive cgroup status's notes
	Settings *sockops.Settings
	Counters []uint64
}

// Counted tells whether counter c is counted by the entry's program:
// TimedOut is only where the kernel took the program that counts it, and a
// counter that is not counted is not 0.
func (e Entry) Counted(c int) bool {
	return e.Counters != nil && (c != sockops.TimedOut || e.Settings != nil && e.Settings.Flags&sockops.CountsTimedOut != 0)
}

// ReadAttached reads one attached cgroup's directory.
func ReadAttached(dir string) Entry {
	e := readMaps(dir)
	e.Where = CgroupOf(dir)
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinOpsLink), nil)
	if err != nil {
		e.State = "unattached"
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
	case unix.Stat(e.Where, &st) != nil:
		e.State = "gone"
	case id == 0 || st.Ino != id:
		e.State = "remade"
	default:
		e.State = "attached"
	}
	return e
}

// ReadLoaded reads one load's directory.
func ReadLoaded(dir string) Entry {
	e := readMaps(dir)
	e.Where, e.State = filepath.Join(dir, OpsProg), "loaded"
	if _, err := os.Stat(e.Where); err != nil {
		e.State = "incomplete"
	}
	return e
}

func readMaps(dir string) Entry {
	var e Entry
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinSettings), nil); err == nil {
		if s, ok := readSettings(m); ok {
			e.Settings = &s
		}
		m.Close()
	}
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinCounters), nil); err == nil {
		var b []byte
		if m.Lookup(uint32(0), &b) == nil && len(b) == sockops.CountersSize {
			e.Counters = make([]uint64, sockops.NumCounters)
			for i := range e.Counters {
				e.Counters[i] = binary.NativeEndian.Uint64(b[8*i:])
			}
		}
		m.Close()
	}
	return e
}

// CgroupOf is the path of the cgroup whose pins dir holds: from the path
// map, else (pins of a release without it) from the name.
func CgroupOf(dir string) string {
	if m, err := ebpf.LoadPinnedMap(filepath.Join(dir, pinCgroup), nil); err == nil {
		defer m.Close()
		var b []byte
		if m.Lookup(uint32(0), &b) == nil {
			if i := bytes.IndexByte(b, 0); i > 0 {
				return string(b[:i])
			}
		}
	}
	if p, ok := PathOf(filepath.Base(dir)); ok {
		return p
	}
	return dir + " (the cgroup's path is lost: detach it by this directory's cgroup, or remove the directory)"
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
		return now, fmt.Errorf("opening %s: %v", cg.Path, err)
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

// Explain is one line for a failed BPF call: the cause a human can act on
// (permission, an old kernel) before the kernel's words.
func Explain(what string, err error) string {
	release := KernelRelease()
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

// KernelRelease is uname -r, or "unknown".
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
