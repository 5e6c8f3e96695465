package pins

// The maps a cgroup's or a load's programs read: settings, counters, the
// cgroup's path; opened from their pins or made and pinned.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

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

// pathSpec is the map holding the attached cgroup's path: status names the
// cgroup from it, shortened name or not, even once the cgroup is gone.
func pathSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_cgroup", Type: ebpf.Array, KeySize: 4, ValueSize: unix.PathMax, MaxEntries: 1}
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
		return m, false, fmt.Errorf("making %s: %w", dir, err)
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
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		x, err = ebpf.NewMap(spec)
		if err != nil {
			return nil, errors.New(Explain("creating a BPF map", err))
		}
		if err := x.Pin(path); err != nil {
			x.Close()
			return nil, fmt.Errorf("pinning %s: %w", path, err)
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
		return fmt.Errorf("writing the settings: %w", err)
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
