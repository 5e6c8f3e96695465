package sockops

// Rules by destination in the kernel. The configuration file's rules are
// chosen by the far end's address and the service port, first match. An
// LPM trie cannot say "first": it answers the longest prefix. So each trie
// entry holds, as a bit set, every rule whose network contains the entry's:
// the networks that contain an address form a chain, the longest entry
// containing it is the chain's end, and the rules containing that entry
// are exactly the rules containing the address. The program then takes the
// lowest set bit whose port range holds the port: the first rule.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// MaxRules is how many rules the maps hold: the file's limit (shim.DestMax).
const MaxRules = 64

// Rule is one rule as the program reads it: the settings a connection under
// it gets (the default's, with the rule's own values over them), its port
// range (PortHi 0: every port), and for status its line and text.
type Rule struct {
	Settings
	Network        Network // not in the map: the trie holds it
	PortLo, PortHi uint16
	Line           uint32
	Text           string
}

// RuleSize is a rule's place in the rules map's value; the program reads
// the first 24 bytes (Settings, PortLo, PortHi), status the rest.
const (
	RuleSize     = 256
	rulePortLo   = SettingsSize
	rulePortHi   = SettingsSize + 2
	ruleLine     = SettingsSize + 4
	ruleText     = SettingsSize + 8
	RuleTextSize = RuleSize - ruleText
)

// MarshalRules is the rules map's value: rules in order, the rest zero. A
// text too long for its place is cut, marked with "...".
func MarshalRules(rules []Rule) ([]byte, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("%d rules, at most %d", len(rules), MaxRules)
	}
	b := make([]byte, MaxRules*RuleSize)
	for i, r := range rules {
		p := b[i*RuleSize:]
		copy(p, r.Settings.Marshal())
		binary.NativeEndian.PutUint16(p[rulePortLo:], r.PortLo)
		binary.NativeEndian.PutUint16(p[rulePortHi:], r.PortHi)
		binary.NativeEndian.PutUint32(p[ruleLine:], r.Line)
		text := r.Text
		if len(text) >= RuleTextSize {
			text = text[:RuleTextSize-4] + "..."
		}
		copy(p[ruleText:ruleText+RuleTextSize-1], text)
	}
	return b, nil
}

// UnmarshalRules reads the rules map's value: the rules up to the first
// place without text.
func UnmarshalRules(b []byte) ([]Rule, error) {
	if len(b) != MaxRules*RuleSize {
		return nil, fmt.Errorf("rules value of %d bytes, want %d", len(b), MaxRules*RuleSize)
	}
	var out []Rule
	for i := range MaxRules {
		p := b[i*RuleSize : (i+1)*RuleSize]
		text, _, _ := bytes.Cut(p[ruleText:], []byte{0})
		if len(text) == 0 {
			break
		}
		s, _ := UnmarshalSettings(p[:SettingsSize])
		out = append(out, Rule{
			Settings: s,
			PortLo:   binary.NativeEndian.Uint16(p[rulePortLo:]),
			PortHi:   binary.NativeEndian.Uint16(p[rulePortHi:]),
			Line:     binary.NativeEndian.Uint32(p[ruleLine:]),
			Text:     string(text),
		})
	}
	return out, nil
}

// Policy is what an attach or a load gives a cgroup: the default's
// settings and the rules by destination, first match.
type Policy struct {
	Default Settings
	Rules   []Rule
}

// Networks are the rules' networks, in order.
func (p Policy) Networks() []Network {
	out := make([]Network, len(p.Rules))
	for i, r := range p.Rules {
		out[i] = r.Network
	}
	return out
}

// Default is the place of the connections no rule takes in the rule
// counters: after the rules'.
const Default = MaxRules

// RulesSpec, RuleCountersSpec: one-element arrays, read by direct value
// access like the settings. RuleCounters holds the counters of each rule,
// then the default's.
func RulesSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_rules", Type: ebpf.Array, KeySize: 4, ValueSize: MaxRules * RuleSize, MaxEntries: 1}
}

func RuleCountersSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_rulecounts", Type: ebpf.Array, KeySize: 4, ValueSize: (MaxRules + 1) * CountersSize, MaxEntries: 1}
}

// DestsSpec is the trie of the rules' networks. Its key is TrieKeySize
// bytes: the prefix length in bits, then the family (4 or 6, a native
// 32-bit word) and the address, IPv4 in the first 4 bytes. The family is
// part of the prefix, so an IPv6 rule never takes an IPv4 connection
// (IPv4-mapped ones included), as in the library; "any" is prefix 0.
func DestsSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_dests", Type: ebpf.LPMTrie, KeySize: TrieKeySize, ValueSize: 8,
		MaxEntries: MaxRules + 1, Flags: unix.BPF_F_NO_PREALLOC}
}

const TrieKeySize = 24

// Network is a rule's network: every address (Any) or a prefix, IPv4 as
// IPv4.
type Network struct {
	Any    bool
	Prefix netip.Prefix
}

// TrieEntry is one entry of the trie: a network and the rules (bit i: rule
// i) that contain it.
type TrieEntry struct {
	Network
	Rules uint64
}

// Key is the entry's trie key.
func (n Network) Key() []byte {
	k := make([]byte, TrieKeySize)
	if n.Any {
		return k
	}
	fam := uint32(6)
	if n.Prefix.Addr().Is4() {
		fam = 4
	}
	binary.NativeEndian.PutUint32(k[0:], uint32(32+n.Prefix.Bits()))
	binary.NativeEndian.PutUint32(k[4:], fam)
	a := n.Prefix.Addr().AsSlice()
	copy(k[8:], a)
	return k
}

// contains: does n hold every address of m?
func (n Network) contains(m Network) bool {
	switch {
	case n.Any:
		return true
	case m.Any:
		return false
	}
	return n.Prefix.Bits() <= m.Prefix.Bits() && n.Prefix.Contains(m.Prefix.Addr())
}

// Trie is the trie's entries for the rules' networks, in order: one per
// distinct network, and "any" when a rule has it.
func Trie(nets []Network) []TrieEntry {
	var out []TrieEntry
	seen := map[Network]bool{}
	for _, n := range nets {
		if seen[n] {
			continue
		}
		seen[n] = true
		e := TrieEntry{Network: n}
		for i, r := range nets {
			if r.contains(n) {
				e.Rules |= 1 << i
			}
		}
		out = append(out, e)
	}
	return out
}

// Match is the index of the first rule for a connection with the far end
// addr and the service port port, -1 for the default: the program's choice
// (TestTrieIsFirstMatch), made in userspace by keepalive apply.
func (p Policy) Match(addr netip.Addr, port uint16) int {
	addr = addr.Unmap()
	end := Network{Prefix: netip.PrefixFrom(addr, addr.BitLen())}
	for i, r := range p.Rules {
		if r.Network.contains(end) && (r.PortHi == 0 || port >= r.PortLo && port <= r.PortHi) {
			return i
		}
	}
	return -1
}

// Settings are the settings of rule i, or the default's for -1.
func (p Policy) Settings(i int) Settings {
	if i < 0 {
		return p.Default
	}
	return p.Rules[i].Settings
}
