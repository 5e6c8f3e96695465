package pins

// The maps a cgroup's or a load's programs read: settings, counters, the
// cgroup's path; opened from their pins or made and pinned.

import (
	"bytes"
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
	// The rules by destination: the rules, their networks' trie, their
	// counters.
	pinRules        = "rules"
	pinDests        = "dests"
	pinRuleCounters = "rule_counters"
	pinOpsLink      = "sock_ops_link"
	pinSoptLink     = "setsockopt_link"
	// OpsProg and SoptProg are a load's programs, for BPFProgram=.
	OpsProg  = "sock_ops"
	SoptProg = "setsockopt"
)

// mapPins are every map pin a directory may hold.
var mapPins = []string{pinSettings, pinCounters, pinRules, pinDests, pinRuleCounters, pinCgroup}

// pathSpec is the map holding the attached cgroup's path: status names the
// cgroup from it, shortened name or not, even once the cgroup is gone.
func pathSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_cgroup", Type: ebpf.Array, KeySize: 4, ValueSize: unix.PathMax, MaxEntries: 1}
}

// maps are a directory's pinned maps.
type maps struct {
	settings, counters, path  *ebpf.Map
	rules, dests, ruleCounter *ebpf.Map
	// rulesMade: the rules map is new, so a program pinned before it
	// was made does not read it.
	rulesMade bool
}

func (m maps) close() {
	for _, x := range []*ebpf.Map{m.settings, m.counters, m.path, m.rules, m.dests, m.ruleCounter} {
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
	for _, o := range []struct {
		m    **ebpf.Map
		name string
		spec *ebpf.MapSpec
	}{
		{&m.settings, pinSettings, sockops.SettingsSpec()},
		{&m.counters, pinCounters, sockops.CountersSpec()},
		{&m.rules, pinRules, sockops.RulesSpec()},
		{&m.dests, pinDests, sockops.DestsSpec()},
		{&m.ruleCounter, pinRuleCounters, sockops.RuleCountersSpec()},
		{&m.path, pinCgroup, pathSpec()},
	} {
		if o.name == pinCgroup && !withPath {
			break
		}
		if *o.m, err = open(o.name, o.spec); err != nil {
			m.close()
			return maps{}, made[pinSettings], err
		}
	}
	m.rulesMade = made[pinRules]
	return m, made[pinSettings], nil
}

// sockOps is the maps as the sock_ops program reads them.
func (m maps) sockOps() sockops.Maps {
	return sockops.Maps{Settings: m.settings, Counters: m.counters, Rules: m.rules, RuleCounters: m.ruleCounter, Dests: m.dests}
}

// rulesState is what the rules maps hold, to be put back after a failed
// change.
type rulesState struct {
	rules []byte
	trie  map[string][]byte
}

func readRulesState(m maps) (rulesState, error) {
	st := rulesState{trie: map[string][]byte{}}
	if err := m.rules.Lookup(uint32(0), &st.rules); err != nil {
		return st, fmt.Errorf("reading the rules: %w", err)
	}
	var k, v []byte
	it := m.dests.Iterate()
	for it.Next(&k, &v) {
		st.trie[string(k)] = append([]byte(nil), v...)
	}
	if err := it.Err(); err != nil {
		return st, fmt.Errorf("reading the rules' networks: %w", err)
	}
	return st, nil
}

// writeRules puts p's rules in the maps: the rules, then the trie's new
// entries, then the removal of its old ones. A connection established
// meanwhile may get a rule of either set, never a rule that is not one.
// Counters of rules that changed start again from 0.
func writeRules(m maps, p sockops.Policy) error {
	b, err := sockops.MarshalRules(p.Rules)
	if err != nil {
		return err
	}
	var old []byte
	if m.rules.Lookup(uint32(0), &old) == nil && !bytes.Equal(old, b) {
		if err := m.ruleCounter.Put(uint32(0), make([]byte, (sockops.MaxRules+1)*sockops.CountersSize)); err != nil {
			return fmt.Errorf("clearing the rules' counters: %w", err)
		}
	}
	if err := m.rules.Put(uint32(0), b); err != nil {
		return fmt.Errorf("writing the rules: %w", err)
	}
	keep := map[string]bool{}
	for _, e := range sockops.Trie(p.Networks()) {
		k := e.Key()
		keep[string(k)] = true
		if err := m.dests.Put(k, e.Rules); err != nil {
			return fmt.Errorf("writing the rules' networks: %w", err)
		}
	}
	return dropStale(m.dests, keep)
}

// dropStale removes the trie's keys that are not in keep.
func dropStale(trie *ebpf.Map, keep map[string]bool) error {
	var stale [][]byte
	var k, v []byte
	it := trie.Iterate()
	for it.Next(&k, &v) {
		if !keep[string(k)] {
			stale = append(stale, append([]byte(nil), k...))
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the rules' networks: %w", err)
	}
	for _, k := range stale {
		if err := trie.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing a rule's network: %w", err)
		}
	}
	return nil
}

// restore puts back a rules state read before a change.
func (st rulesState) restore(m maps) {
	if st.rules == nil {
		return
	}
	m.rules.Put(uint32(0), st.rules)
	keep := map[string]bool{}
	for k, v := range st.trie {
		keep[k] = true
		m.dests.Put([]byte(k), v)
	}
	dropStale(m.dests, keep)
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
	prevRules, _ := readRulesState(m)
	return m, prev, func(err error) {
		if err != nil && hadPrev {
			writeSettings(m.settings, prev)
			prevRules.restore(m)
		}
		m.close()
		if err != nil && !hadPrev {
			Remove(dir)
		}
	}, nil
}

// value reads the one value of the map pinned at dir/name.
func value(dir, name string) ([]byte, bool) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		return nil, false
	}
	defer m.Close()
	var b []byte
	return b, m.Lookup(uint32(0), &b) == nil
}

// counters reads n sets of counters from b.
func countersOf(b []byte, n int) [][]uint64 {
	if len(b) != n*sockops.CountersSize {
		return nil
	}
	out := make([][]uint64, n)
	for r := range out {
		out[r] = make([]uint64, sockops.NumCounters)
		for i := range out[r] {
			out[r][i] = binary.NativeEndian.Uint64(b[r*sockops.CountersSize+8*i:])
		}
	}
	return out
}

func readMaps(dir string) Entry {
	var e Entry
	if b, ok := value(dir, pinSettings); ok {
		if s, err := sockops.UnmarshalSettings(b); err == nil {
			e.Settings = &s
		}
	}
	if b, ok := value(dir, pinCounters); ok {
		if c := countersOf(b, 1); c != nil {
			e.Counters = c[0]
		}
	}
	if b, ok := value(dir, pinRules); ok {
		e.Rules, _ = sockops.UnmarshalRules(b)
	}
	if b, ok := value(dir, pinRuleCounters); ok {
		e.RuleCounters = countersOf(b, sockops.MaxRules+1)
	}
	return e
}
