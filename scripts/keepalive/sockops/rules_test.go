package sockops

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

// lookup is the kernel's LPM trie over entries, for the key the program
// builds for addr: the entry with the longest prefix whose bits agree.
func lookup(entries []TrieEntry, addr netip.Addr) (uint64, bool) {
	addr = addr.Unmap()
	k := Network{Prefix: netip.PrefixFrom(addr, addr.BitLen())}.Key()
	best, found, bits := uint64(0), false, -1
	for _, e := range entries {
		ek := e.Key()
		n := int(binary.NativeEndian.Uint32(ek))
		if n <= bits || !samePrefix(ek[4:], k[4:], n) {
			continue
		}
		best, found, bits = e.Rules, true, n
	}
	return best, found
}

func samePrefix(a, b []byte, bits int) bool {
	for i := 0; i < bits; i++ {
		if (a[i/8]>>(7-i%8))&1 != (b[i/8]>>(7-i%8))&1 {
			return false
		}
	}
	return true
}

// first is the program's choice: the lowest rule in the trie's set whose
// port range holds port.
func first(rules []Rule, set uint64, port uint16) int {
	for i, r := range rules {
		if set>>i&1 == 1 && (r.PortHi == 0 || port >= r.PortLo && port <= r.PortHi) {
			return i
		}
	}
	return -1
}

// The trie and the port check choose, for random rules and connections,
// the rule the library's reader (shim.File.Match) chooses: the kernel's
// first match is the library's.
func TestTrieIsFirstMatch(t *testing.T) {
	nets := []string{"any", "0.0.0.0/0", "::/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.1.2.0/24", "192.168.0.0/16",
		"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "::ffff:10.0.0.0/104", "::1", "127.0.0.0/8", "::ffff:0:0/96"}
	addrs := []string{"10.1.2.3", "10.1.2.4", "10.9.9.9", "192.168.1.1", "8.8.8.8", "127.0.0.1", "::ffff:10.1.2.3", "::ffff:8.8.8.8",
		"2001:db8:1::5", "2001:db8:1::6", "2001:db8:2::1", "::1", "fe80::1", "::"}
	ports := []string{"", "port 5432", "port 1-1024", "port 80", "port 8000-8999", "port 65535"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		var b strings.Builder
		n := 1 + rng.IntN(MaxRules)
		for range n {
			fmt.Fprintf(&b, "to %s %s KEEPIDLE=%d\n", nets[rng.IntN(len(nets))], ports[rng.IntN(len(ports))], 1+rng.IntN(100))
		}
		file := shim.ParseFile("rules.conf", []byte(b.String()))
		if len(file.Problems) > 0 || len(file.Dests) != n {
			t.Fatalf("round %d: %v\n%s", round, file.Problems, b.String())
		}
		var rules []Rule
		var networks []Network
		for _, d := range file.Dests {
			nw := Network{Any: d.Any, Prefix: d.Net}
			rules = append(rules, Rule{Network: nw, PortLo: d.PortLo, PortHi: d.PortHi})
			networks = append(networks, nw)
		}
		trie := Trie(networks)
		if len(trie) > MaxRules+1 {
			t.Fatalf("round %d: %d trie entries, the map holds %d", round, len(trie), MaxRules+1)
		}
		for range 20 {
			addr := netip.MustParseAddr(addrs[rng.IntN(len(addrs))])
			port := []uint16{80, 443, 5432, 8080, 65535, 1}[rng.IntN(6)]
			set, _ := lookup(trie, addr)
			if got, want := first(rules, set, port), file.Match(addr, port); got != want {
				t.Fatalf("round %d: %s port %d: the trie gives rule %d, the library %d\n%s", round, addr, port, got, want, b.String())
			}
			if got, want := (Policy{Rules: rules}).Match(addr, port), file.Match(addr, port); got != want {
				t.Fatalf("round %d: %s port %d: Policy.Match gives rule %d, the library %d\n%s", round, addr, port, got, want, b.String())
			}
		}
	}
}

// The rules map's value reads back as written, a long text cut.
func TestRulesRoundTrip(t *testing.T) {
	in := []Rule{
		{Settings: Settings{Flags: HasIdle, Idle: 60}, PortLo: 5432, PortHi: 5432, Line: 3, Text: "to 10.0.0.0/8 port 5432 KEEPIDLE=60"},
		{Settings: Settings{Flags: LeaveAlone}, Line: 9, Text: "to any " + strings.Repeat("KEEPIDLE=1 ", 40)},
	}
	b, err := MarshalRules(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalRules(b)
	if err != nil || len(out) != 2 {
		t.Fatalf("%d rules, %v", len(out), err)
	}
	if out[0].Settings != in[0].Settings || out[0].PortLo != 5432 || out[0].PortHi != 5432 || out[0].Line != 3 || out[0].Text != in[0].Text {
		t.Errorf("rule 0: %+v, want %+v", out[0], in[0])
	}
	if len(out[1].Text) != RuleTextSize-1 || !strings.HasSuffix(out[1].Text, "...") || out[1].Flags != LeaveAlone {
		t.Errorf("rule 1: %+v: want its text cut to %d bytes with ...", out[1], RuleTextSize-1)
	}
	if _, err := MarshalRules(make([]Rule, MaxRules+1)); err == nil {
		t.Errorf("%d rules: want an error", MaxRules+1)
	}
	if MaxRules != shim.DestMax {
		t.Errorf("MaxRules %d, the file holds %d", MaxRules, shim.DestMax)
	}
}
