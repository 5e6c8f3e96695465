package shim

import (
	"fmt"
	"net/netip"
	"strings"
)

// Rules by destination: a line of the configuration file
//
//	to NETWORK [port PORT[-PORT]] KEY=VALUE...
//
// gives the connections whose far end is in NETWORK (any, an address, or an
// IPv4 or IPv6 network with its prefix length) and whose service port is in
// the range their own settings. The first rule that matches a connection
// applies; a connection no rule matches gets the file's other lines and the
// environment, as before rules existed. The service port is the peer's for
// a connection the program makes and the program's own for one it accepts,
// so "port 5432" means PostgreSQL on either side.

// DestKeyword starts a rule line.
const DestKeyword = "to"

// DestMax is how many rules a file may hold: the C reader keeps them in a
// fixed table.
const DestMax = 64

// DestVars are the variables a rule may set, by index into Rules. In a rule
// KEEPALIVE is on or off only: force is a whole process's choice.
var DestVars = []int{VarKeepalive, VarIdle, VarIntvl, VarCnt, VarUserTimeout}

// Dest is one rule of the file.
type Dest struct {
	Line   int
	Any    bool         // NETWORK was "any": every address of both families
	Net    netip.Prefix // when !Any; masked, IPv4 as IPv4
	PortLo uint16       // 1..65535 when a port is given
	PortHi uint16       // 0 when none: every port
	Values map[string]string
	Config Config // the rule's own values; unset ones come from the default
}

// Message words for rules, copied into rules.h like the others.
const (
	MsgDestUsage    = "want " + DestKeyword + " NETWORK [port PORT[-PORT]] KEY=VALUE..."
	MsgDestNoNet    = "is a rule without a network: " + MsgDestUsage + "; rule ignored"
	MsgDestBadNet   = "NETWORK %s is not a network: want any, an IPv4 or IPv6 address, or one with a prefix length (10.0.0.0/8, 2001:db8::/32); rule ignored"
	MsgDestHostBits = "NETWORK %s has bits set past its prefix length: want the network's first address; rule ignored"
	MsgDestBadPort  = "port %s is not a port: want a port from 1 to 65535, or a range of them (8000-8999); rule ignored"
	MsgDestNoValues = "is a rule without settings: " + MsgDestUsage + "; rule ignored"
	MsgDestBadWord  = "%s is not a setting of a rule: want KEY=VALUE with KEY one of %s; rule ignored"
	MsgDestTwice    = "sets %s twice in one rule; rule ignored"
	MsgDestTooMany  = "is one rule too many: at most %d rules are read; rule ignored"
	MsgDestInstead  = "rule ignored"
	// A rule's KEEPALIVE takes these words (KEEPALIVE_DEBUG's).
	MsgDestSwitch = "on or off (on/off, yes/no, true/false, 1/0, any case)"
)

// DestKeys lists the keys a rule may set, for messages.
func DestKeys() string {
	var keys []string
	for _, v := range DestVars {
		keys = append(keys, Rules[v].Var)
	}
	return strings.Join(keys, ", ")
}

// isDestLine: does the trimmed line start a rule?
func isDestLine(l string) bool {
	return strings.HasPrefix(l, DestKeyword) && (len(l) == len(DestKeyword) || l[len(DestKeyword)] == ' ' || l[len(DestKeyword)] == '\t')
}

func blank(r rune) bool { return r == ' ' || r == '\t' }

// parseDest reads a rule line; the problem, if any, is why it is ignored.
func parseDest(l string, line int) (Dest, *Problem) {
	d := Dest{Line: line, Values: map[string]string{}}
	bad := func(format string, args ...any) (Dest, *Problem) {
		return Dest{}, &Problem{Var: -1, Line: line, Err: fmt.Errorf(format, args...)}
	}
	words := strings.FieldsFunc(l[len(DestKeyword):], blank)
	if len(words) == 0 || strings.Contains(words[0], "=") {
		return bad("%s", MsgDestNoNet)
	}
	network := words[0]
	words = words[1:]
	switch net, ok := parseNetwork(network); {
	case network == "any":
		d.Any = true
	case !ok:
		return bad(MsgDestBadNet, showValue(network))
	case net.Masked() != net:
		return bad(MsgDestHostBits, showValue(network))
	default:
		d.Net = net
	}
	if len(words) > 0 && words[0] == "port" {
		if len(words) == 1 {
			return bad(MsgDestBadPort, showValue(""))
		}
		lo, hi, ok := parsePorts(words[1])
		if !ok {
			return bad(MsgDestBadPort, showValue(words[1]))
		}
		d.PortLo, d.PortHi = lo, hi
		words = words[2:]
	}
	if len(words) == 0 {
		return bad("%s", MsgDestNoValues)
	}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		known := false
		for _, i := range DestVars {
			known = known || Rules[i].Var == k
		}
		if !ok || !known {
			return bad(MsgDestBadWord, showValue(w), DestKeys())
		}
		if _, again := d.Values[k]; again {
			return bad(MsgDestTwice, k)
		}
		d.Values[k] = v
	}
	c, probs := Load(d.Values)
	if len(probs) > 0 {
		p := probs[0]
		p.Line, p.Dest = line, true
		return Dest{}, &p
	}
	if c.Keepalive.Set && c.Keepalive.Value == Force {
		return Dest{}, &Problem{Var: VarKeepalive, Line: line, Value: d.Values["KEEPALIVE"], Err: errWord, Dest: true}
	}
	d.Config = c
	return d, nil
}

// parseNetwork reads an address or an address with a prefix length. The
// accepted forms are the C reader's (inet_pton's): no zones, no IPv4 parts
// with leading zeros, a prefix length of plain digits.
func parseNetwork(s string) (netip.Prefix, bool) {
	if strings.ContainsAny(s, "%") {
		return netip.Prefix{}, false
	}
	a, bits, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, false
	}
	n := addr.BitLen()
	if hasBits {
		v, ok := plainNumber(bits)
		if !ok || v > int64(n) || len(bits) > 3 {
			return netip.Prefix{}, false
		}
		n = int(v)
	}
	// ::ffff:10.0.0.0/104 is 10.0.0.0/8: connections are matched unmapped.
	if addr.Is4In6() && n >= 96 {
		addr, n = addr.Unmap(), n-96
	}
	return netip.PrefixFrom(addr, n), true
}

// parsePorts reads PORT or LO-HI, each 1..65535, LO <= HI.
func parsePorts(s string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	x, ok1 := plainNumber(a)
	y, ok2 := plainNumber(b)
	if !ok1 || !ok2 || len(a) > 5 || len(b) > 5 || x < 1 || y > 65535 || x > y {
		return 0, 0, false
	}
	return uint16(x), uint16(y), true
}

// Matches: does a connection with the far end addr and the service port
// port fall under the rule? An IPv4-mapped IPv6 address is its IPv4 one.
func (d Dest) Matches(addr netip.Addr, port uint16) bool {
	addr = addr.Unmap()
	if d.PortHi != 0 && (port < d.PortLo || port > d.PortHi) {
		return false
	}
	return d.Any || d.Net.Contains(addr)
}

// LeavesAlone: does the rule say KEEPALIVE=off?
func (d Dest) LeavesAlone() bool { return d.Config.Keepalive.Set && d.Config.Keepalive.Value == 0 }

// Match returns the index of the first rule for the connection, -1 if none.
func (f File) Match(addr netip.Addr, port uint16) int {
	for i, d := range f.Dests {
		if d.Matches(addr, port) {
			return i
		}
	}
	return -1
}

// Over returns def with the rule's own values put over it: the settings a
// connection under the rule gets.
func (d Dest) Over(def Config) Config {
	c := def
	set := d.Config.Settings()
	out := []*Setting{&c.Keepalive.Setting, &c.Idle.Setting, &c.Intvl.Setting, &c.Cnt.Setting, &c.UserTimeout.Setting}
	for i, p := range out {
		if set[i].Set {
			*p = set[i]
		}
	}
	return c
}

// String is the rule as `keepalive check` prints it: one canonical line.
func (d Dest) String() string {
	var b strings.Builder
	b.WriteString(DestKeyword + " ")
	if d.Any {
		b.WriteString("any")
	} else {
		b.WriteString(d.Net.String())
	}
	if d.PortHi != 0 {
		if d.PortLo == d.PortHi {
			fmt.Fprintf(&b, " port %d", d.PortLo)
		} else {
			fmt.Fprintf(&b, " port %d-%d", d.PortLo, d.PortHi)
		}
	}
	for _, v := range DestVars {
		if t, ok := d.Values[Rules[v].Var]; ok {
			fmt.Fprintf(&b, " %s=%s", Rules[v].Var, t)
		}
	}
	return b.String()
}
