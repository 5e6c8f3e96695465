package procsock

import "net/netip"

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
