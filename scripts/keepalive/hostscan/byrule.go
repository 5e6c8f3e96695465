package hostscan

import (
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/procsock"
	"github.com/libkeepalive/libkeepalive/shim"
)

// Conn and Ports are procsock's: keepalive apply chooses a connection's
// rule with the same service port.
type (
	Conn  = procsock.Conn
	Ports = procsock.Ports
)

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
