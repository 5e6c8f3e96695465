package hostscan

import (
	"net/netip"

	"github.com/libkeepalive/libkeepalive/shim"
)

// Conn is one established connection's two ends, as sock_diag gives them.
type Conn struct{ Local, Peer netip.AddrPort }

// Ports are the ports of a network namespace's listening TCP sockets.
type Ports map[uint16]bool

// Accepted: was the connection accepted rather than made? sock_diag does
// not say; a connection whose own port is the port of a listening socket of
// its network namespace is taken as accepted, any other as made. connect()
// never picks a port that a socket bound with bind() holds, so only a
// client that binds its own port to a listener's (on another address) is
// taken for a server.
func (c Conn) Accepted(listening Ports) bool { return listening[c.Local.Port()] }

// ServicePort is the port a rule by destination is matched with, as the
// library has it (shim/dest.go): the program's own port for a connection it
// accepted, the peer's for one it made.
func (c Conn) ServicePort(listening Ports) uint16 {
	if c.Accepted(listening) {
		return c.Local.Port()
	}
	return c.Peer.Port()
}

// ByRule counts connections by the rule by destination of File they fall
// under: the first that matches the far end and the service port.
type ByRule struct {
	File    shim.File
	Rules   []int // by index into File.Dests
	Default int   // under no rule: the file's other lines and the environment
}

// NewByRule counts nothing yet, for the rules of f.
func NewByRule(f shim.File) *ByRule {
	return &ByRule{File: f, Rules: make([]int, len(f.Dests))}
}

// Add counts conns, from a network namespace whose listening TCP ports are
// listening.
func (b *ByRule) Add(conns []Conn, listening Ports) {
	for _, c := range conns {
		if i := b.File.Match(c.Peer.Addr(), c.ServicePort(listening)); i >= 0 {
			b.Rules[i]++
		} else {
			b.Default++
		}
	}
}

// AtRisk is the connections counted under rules that give keepalive, and
// under the default; LeftAlone, those under KEEPALIVE=off rules, left
// without keepalive by the operator's choice. Their sum is every
// connection counted.
func (b *ByRule) AtRisk() int {
	n := b.Default
	for i, d := range b.File.Dests {
		if !d.LeavesAlone() {
			n += b.Rules[i]
		}
	}
	return n
}

// LeftAlone: see AtRisk.
func (b *ByRule) LeftAlone() int {
	n := 0
	for i, d := range b.File.Dests {
		if d.LeavesAlone() {
			n += b.Rules[i]
		}
	}
	return n
}

// ByRule counts the connections without keepalive of h (scanned with
// Options.Conns) by the rule of f they fall under.
func (h *Host) ByRule(f shim.File) *ByRule {
	b := NewByRule(f)
	for _, p := range h.Listed {
		b.Add(p.AtRiskConns, h.Listening[p.NetNS])
	}
	return b
}
