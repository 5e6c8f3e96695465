package shim_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
	"github.com/libkeepalive/libkeepalive/shim/cparse/cparsetest"
)

// Each rule line: read as the rule it is, or refused with the words that
// say why.
func TestDestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string // the rule as check prints it, or a word of the message
		ok   bool
	}{
		{"to 10.20.0.0/16 port 5432 KEEPIDLE=60 KEEPINTVL=10 KEEPCNT=3", "to 10.20.0.0/16 port 5432 KEEPIDLE=60 KEEPINTVL=10 KEEPCNT=3", true},
		{"to\t10.0.0.1 KEEPIDLE=1m", "to 10.0.0.1/32 KEEPIDLE=1m", true},
		{"to 2001:db8::/32 port 8000-8999 KEEPIDLE=300", "to 2001:db8::/32 port 8000-8999 KEEPIDLE=300", true},
		{"to ::ffff:10.0.0.0/104 KEEPIDLE=5", "to 10.0.0.0/8 KEEPIDLE=5", true},
		{"to any port 22 KEEPALIVE=off", "to any port 22 KEEPALIVE=off", true},
		{"to any KEEPALIVE=no", "to any KEEPALIVE=no", true},
		{"to", "is a rule without a network", false},
		{"to KEEPIDLE=5", "is a rule without a network", false},
		{"to 10.0.0.0/33 KEEPIDLE=5", `NETWORK "10.0.0.0/33" is not a network`, false},
		{"to 10.0.0.1%eth0 KEEPIDLE=5", `is not a network`, false},
		{"to fe80::1%eth0 KEEPIDLE=5", `is not a network`, false},
		{"to 010.0.0.1 KEEPIDLE=5", `is not a network`, false},
		{"to 10.20.1.0/16 KEEPIDLE=5", `has bits set past its prefix length`, false},
		{"to 10.0.0.0/8 port KEEPIDLE=5", `port "KEEPIDLE=5" is not a port`, false},
		{"to 10.0.0.0/8 port", `port "" is not a port`, false},
		{"to 10.0.0.0/8 port 0 KEEPIDLE=5", `port "0" is not a port`, false},
		{"to 10.0.0.0/8 port 70000 KEEPIDLE=5", `port "70000" is not a port`, false},
		{"to 10.0.0.0/8 port 9-8 KEEPIDLE=5", `port "9-8" is not a port`, false},
		{"to 10.0.0.0/8", "is a rule without settings", false},
		{"to 10.0.0.0/8 port 80", "is a rule without settings", false},
		{"to 10.0.0.0/8 idle=5", `"idle=5" is not a setting of a rule`, false},
		{"to 10.0.0.0/8 KEEPALIVE_DEBUG=on", `"KEEPALIVE_DEBUG=on" is not a setting of a rule`, false},
		{"to 10.0.0.0/8 KEEPIDLE=5 KEEPIDLE=6", "sets KEEPIDLE twice in one rule", false},
		{"to 10.0.0.0/8 KEEPIDLE=abc", `KEEPIDLE="abc" is not a number or a duration: want whole seconds from 1 to 32767, as a number (600) or a duration (10m); rule ignored`, false},
		{"to 10.0.0.0/8 KEEPALIVE=force", `KEEPALIVE="force" is not an on/off word: want on or off (on/off, yes/no, true/false, 1/0, any case); rule ignored`, false},
	} {
		f := shim.ParseFile("k.conf", []byte(tc.line+"\n"))
		if tc.ok {
			if len(f.Problems) > 0 || len(f.Dests) != 1 || f.Dests[0].String() != tc.want {
				t.Errorf("%q: rules %v, problems %q; want %q", tc.line, f.Dests, lines(f.Problems), tc.want)
			}
			continue
		}
		if len(f.Dests) != 0 || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Message(), tc.want) ||
			!strings.HasPrefix(f.Problems[0].Message(), "libkeepalive: k.conf:1") || !strings.HasSuffix(f.Problems[0].Message(), "; rule ignored") {
			t.Errorf("%q: rules %v, problems %q; want one message with %q", tc.line, f.Dests, lines(f.Problems), tc.want)
		}
	}
}

// The first rule that matches applies; a port range bounds it; the
// settings a rule leaves unset come from the default.
func TestDestMatch(t *testing.T) {
	f := shim.ParseFile("k.conf", []byte(`KEEPIDLE=600
KEEPCNT=4
to 10.20.0.0/16 port 5432 KEEPIDLE=60
to 10.0.0.0/8 KEEPIDLE=300 KEEPCNT=2
to 2001:db8::/32 port 8000-8999 KEEPALIVE=off
to any port 22 KEEPIDLE=30
`))
	if len(f.Problems) > 0 {
		t.Fatal(lines(f.Problems))
	}
	def, _ := shim.LoadWith(nil, f)
	for _, tc := range []struct {
		addr string
		port uint16
		rule int
		idle int64 // 0: leave alone
	}{
		{"10.20.3.4", 5432, 0, 60},
		{"::ffff:10.20.3.4", 5432, 0, 60},
		{"10.20.3.4", 5433, 1, 300},
		{"10.1.1.1", 22, 1, 300},
		{"192.0.2.1", 22, 3, 30},
		{"192.0.2.1", 80, -1, 600},
		{"2001:db8::1", 8000, 2, 0},
		{"2001:db8::1", 9000, -1, 600},
		{"2001:db9::1", 22, 3, 30},
	} {
		i := f.Match(netip.MustParseAddr(tc.addr), tc.port)
		if i != tc.rule {
			t.Errorf("%s port %d: rule %d, want %d", tc.addr, tc.port, i, tc.rule)
			continue
		}
		c := def
		if i >= 0 {
			if f.Dests[i].LeavesAlone() {
				if tc.idle != 0 {
					t.Errorf("%s port %d: left alone", tc.addr, tc.port)
				}
				continue
			}
			c = f.Dests[i].Over(def)
		}
		if c.Idle.Value != tc.idle {
			t.Errorf("%s port %d: idle %d, want %d", tc.addr, tc.port, c.Idle.Value, tc.idle)
		}
		if want := map[int]int64{1: 2}[i]; want == 0 && c.Cnt.Value != 4 || want != 0 && c.Cnt.Value != want {
			t.Errorf("%s port %d: count %d", tc.addr, tc.port, c.Cnt.Value)
		}
	}
}

// At most DestMax rules are read; the next one says so.
func TestDestTooMany(t *testing.T) {
	var b strings.Builder
	for i := 0; i <= shim.DestMax; i++ {
		b.WriteString("to any port 1 KEEPIDLE=5\n")
	}
	f := shim.ParseFile("k.conf", []byte(b.String()))
	if len(f.Dests) != shim.DestMax || len(f.Problems) != 1 || !strings.Contains(f.Problems[0].Message(), "one rule too many") {
		t.Errorf("%d rules, problems %q", len(f.Dests), lines(f.Problems))
	}
}

// The two readers take the same networks: Go's netip and C's inet_pton
// differ at the edges, which the Go reader narrows to C's.
func TestDestAddressesAgree(t *testing.T) {
	nets := []string{"1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "0x1.2.3.4", "1.2.3.4/0", "1.2.3.4/032",
		"1.2.3.4/0032", "1.2.3.4/", "1.2.3.4/+8", "::", "::/0", "::1", "1::2:3:4:5:6:7", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "::ffff:1.2.3.0/120",
		"::ffff:0.0.0.0/95", "::FFFF:1.2.3.4", "fe80::1%eth0", "12345::", "1:::2", ":1::", "1::2::3", "[::1]", "::ffff:01.2.3.4",
		"0:0:0:0:0:ffff:1.2.3.4", "2001:DB8::/32", "2001:db8::/129", "1.2.3.4/33", " 1.2.3.4"}
	for _, n := range nets {
		file := []byte("to " + n + " KEEPIDLE=5\n")
		g, c := goMerged(file, nil, "x"), cMerged(file, nil, "x")
		if g != c {
			t.Errorf("%q: Go %q, C %q", n, g.Dests, c.Dests)
		}
		gl, cl := goReport("k.conf", file, nil), cparsetest.Report(&cparsetest.Source{Path: "k.conf", Text: file}, nil)
		if strings.Join(gl, "\n") != strings.Join(cl, "\n") {
			t.Errorf("%q: Go %q, C %q", n, gl, cl)
		}
	}
}

// Both readers pick the same rule for each connection.
func TestDestMatchAgrees(t *testing.T) {
	file := []byte("to 10.20.0.0/16 port 5432 KEEPIDLE=60\nto 10.0.0.0/8 KEEPIDLE=300\nto 10.20.30.0/24 KEEPIDLE=1\n" +
		"to 2001:db8::/33 port 8000-8999 KEEPALIVE=off\nto 2001:db8:8000::/33 KEEPIDLE=7\nto any port 22 KEEPIDLE=30\nto 0.0.0.0/0 KEEPCNT=1\n")
	f := shim.ParseFile("k.conf", file)
	for _, a := range []string{"10.20.30.40", "10.20.0.1", "10.1.2.3", "11.0.0.1", "::ffff:10.20.30.40", "2001:db8::1",
		"2001:db8:7fff::1", "2001:db8:8000::1", "2001:db9::1", "::1", "0.0.0.0", "255.255.255.255"} {
		for _, port := range []uint16{1, 22, 5432, 8000, 8999, 9000, 65535} {
			addr := netip.MustParseAddr(a)
			if g, c := f.Match(addr, port), cparsetest.Match(file, addr, port); g != c {
				t.Errorf("%s port %d: Go rule %d, C rule %d", a, port, g, c)
			}
		}
	}
}
