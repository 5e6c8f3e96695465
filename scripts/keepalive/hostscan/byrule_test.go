package hostscan

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

const rulesText = `KEEPIDLE=300
to 10.0.0.0/8 port 5432 KEEPIDLE=60
to 192.168.1.5 KEEPALIVE=off
to 2001:db8::/32 port 443 KEEPIDLE=30
to any port 8000-8999 KEEPCNT=3
`

func rulesFile(t *testing.T, text string) shim.File {
	t.Helper()
	f := shim.ParseFile("/etc/keepalive.conf", []byte(text))
	if len(f.Problems) > 0 {
		t.Fatalf("the test's file: %v", f.Problems)
	}
	return f
}

func conn(local, peer string) Conn {
	return Conn{Local: netip.MustParseAddrPort(local), Peer: netip.MustParseAddrPort(peer)}
}

// Each connection gets the rule of its far end and its service port: the
// peer's port for one made, its own for one accepted (its own port is a
// listener's), as the library reads them.
func TestByRuleEachConnection(t *testing.T) {
	f := rulesFile(t, rulesText)
	server := Ports{5432: true, 8080: true}
	for _, tc := range []struct {
		name      string
		c         Conn
		listening Ports
		accepted  bool
		service   uint16
		rule      int // index into f.Dests; -1 the default
	}{
		{"made, to the rule's network and port", conn("10.0.0.5:40000", "10.1.2.3:5432"), server, false, 5432, 0},
		{"accepted on the rule's port, from its network", conn("10.0.0.5:5432", "10.9.9.9:51000"), server, true, 5432, 0},
		{"accepted on the rule's port, from another network", conn("10.0.0.5:5432", "172.16.0.1:51000"), server, true, 5432, -1},
		{"made, to the rule's network, another port", conn("10.0.0.5:40000", "10.1.2.3:5433"), server, false, 5433, -1},
		{"made to the port, no listener: the peer's port", conn("10.0.0.5:40000", "10.1.2.3:5432"), nil, false, 5432, 0},
		{"own port a listener's: taken as accepted", conn("10.0.0.5:5432", "10.1.1.1:6000"), server, true, 5432, 0},
		{"own port 5432 without a listener: made, to 6000", conn("10.0.0.5:5432", "10.1.1.1:6000"), nil, false, 6000, -1},
		{"a rule without a port, KEEPALIVE=off", conn("10.0.0.5:40000", "192.168.1.5:22"), server, false, 22, 1},
		{"accepted from the left-alone address", conn("10.0.0.5:8080", "192.168.1.5:50000"), server, true, 8080, 1},
		{"IPv4-mapped peer is its IPv4 address", conn("[::ffff:10.0.0.5]:40000", "[::ffff:10.2.2.2]:5432"), server, false, 5432, 0},
		{"IPv6, made", conn("[2001:db8::5]:40000", "[2001:db8::1]:443"), server, false, 443, 2},
		{"IPv6, accepted on 8080: any port 8000-8999", conn("[2001:db8::5]:8080", "[2001:db8::9]:50000"), server, true, 8080, 3},
		{"loopback, made to 8500", conn("127.0.0.1:45000", "127.0.0.1:8500"), server, false, 8500, 3},
		{"IPv6 outside the network", conn("[2001:db9::5]:40000", "[2001:db9::1]:443"), server, false, 443, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, p := tc.c.Accepted(tc.listening), tc.c.ServicePort(tc.listening); a != tc.accepted || p != tc.service {
				t.Errorf("%v: accepted %v, service port %d; want %v, %d", tc.c, a, p, tc.accepted, tc.service)
			}
			b := NewByRule(f)
			b.Add([]Conn{tc.c}, tc.listening)
			want := make([]int, len(f.Dests))
			wantDefault := 1
			if tc.rule >= 0 {
				want[tc.rule], wantDefault = 1, 0
			}
			if !slices.Equal(b.Rules, want) || b.Default != wantDefault {
				t.Errorf("%v: by rule %v, default %d; want %v, %d", tc.c, b.Rules, b.Default, want, wantDefault)
			}
			// The same answer as the library's own matching, given the
			// service port.
			if i := f.Match(tc.c.Peer.Addr(), tc.service); i != tc.rule {
				t.Errorf("%v: File.Match gives %d, want %d", tc.c, i, tc.rule)
			}
		})
	}
}

// Counts over many connections, with the left-alone rule's apart.
func TestByRuleCounts(t *testing.T) {
	for _, tc := range []struct {
		name              string
		text              string
		conns             []Conn
		listening         Ports
		rules             []int
		def               int
		atRisk, leftAlone int
	}{
		{"no rules: all under the default", "KEEPIDLE=60\n",
			[]Conn{conn("10.0.0.5:40000", "10.1.2.3:5432"), conn("10.0.0.5:5432", "10.9.9.9:1")}, Ports{5432: true},
			[]int{}, 2, 2, 0},
		{"no connections", rulesText, nil, nil, []int{0, 0, 0, 0}, 0, 0, 0},
		{"the first rule that matches, once", "to 10.0.0.0/8 KEEPIDLE=60\nto 10.1.0.0/16 KEEPALIVE=off\n",
			[]Conn{conn("10.0.0.5:40000", "10.1.2.3:5432"), conn("10.0.0.5:40001", "10.1.2.4:5432"), conn("10.0.0.5:40002", "11.0.0.1:80")}, nil,
			[]int{2, 0}, 1, 3, 0},
		{"left alone apart", rulesText,
			[]Conn{
				conn("10.0.0.5:40000", "10.1.2.3:5432"),
				conn("10.0.0.5:5432", "10.9.9.9:51000"),
				conn("10.0.0.5:40001", "192.168.1.5:22"),
				conn("10.0.0.5:40002", "192.168.1.5:23"),
				conn("10.0.0.5:8080", "172.16.0.1:50000"),
				conn("10.0.0.5:40003", "172.16.0.1:22"),
			}, Ports{5432: true, 8080: true},
			[]int{2, 2, 0, 1}, 1, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewByRule(rulesFile(t, tc.text))
			b.Add(tc.conns, tc.listening)
			if !slices.Equal(b.Rules, tc.rules) || b.Default != tc.def || b.AtRisk() != tc.atRisk || b.LeftAlone() != tc.leftAlone {
				t.Errorf("by rule %v, default %d, at risk %d, left alone %d; want %v, %d, %d, %d",
					b.Rules, b.Default, b.AtRisk(), b.LeftAlone(), tc.rules, tc.def, tc.atRisk, tc.leftAlone)
			}
			if b.AtRisk()+b.LeftAlone() != len(tc.conns) {
				t.Errorf("at risk %d + left alone %d != %d connections", b.AtRisk(), b.LeftAlone(), len(tc.conns))
			}
		})
	}
}

// Host.ByRule reads each process's connections with its own network
// namespace's listeners: the same ends are accepted in one, made in the
// other.
func TestHostByRule(t *testing.T) {
	f := rulesFile(t, "to 10.9.9.9 port 5432 KEEPIDLE=60\n")
	ends := conn("10.0.0.5:5432", "10.9.9.9:51000")
	h := &Host{
		Listed: []*Process{
			{PID: 1, TCP: 1, NetNS: "net:[1]", AtRiskConns: []Conn{ends}},
			{PID: 2, TCP: 2, Keepalive: 1, NetNS: "net:[2]", AtRiskConns: []Conn{ends}},
			{PID: 3, TCP: 1, Keepalive: 1, NetNS: "net:[2]"},
		},
		Listening: map[string]Ports{"net:[1]": {5432: true}, "net:[2]": {}},
	}
	b := h.ByRule(f)
	if !slices.Equal(b.Rules, []int{1}) || b.Default != 1 {
		t.Errorf("by rule %v, default %d; want [1], 1 (accepted in net:[1], made to port 51000 in net:[2])", b.Rules, b.Default)
	}
	if _, _, risky, _ := h.Totals(); b.AtRisk()+b.LeftAlone() != risky {
		t.Errorf("by rule %d + %d, Totals %d at risk", b.AtRisk(), b.LeftAlone(), risky)
	}
}
