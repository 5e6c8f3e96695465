// Package procsock reads a process's TCP sockets as the kernel has them:
// which descriptors are sockets, what sock_diag says of each (state,
// addresses, running timer), and their options, read with getsockopt on a
// duplicate of the descriptor. Both forms of keepalive status use it.
package procsock

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag interface for TCP (linux/inet_diag.h), which
// golang.org/x/sys/unix does not define: one dump gives every socket of a
// network namespace with its inode and the timer it is running, in a few
// system calls for tens of thousands of sockets.

type inetDiagSockID struct {
	SPort, DPort [2]byte
	Src, Dst     [16]byte
	If           uint32
	Cookie       [2]uint32
}

type inetDiagReqV2 struct {
	Family, Protocol, Ext, Pad uint8
	States                     uint32
	ID                         inetDiagSockID
}

type inetDiagMsg struct {
	Family, State, Timer, Retrans uint8
	ID                            inetDiagSockID
	Expires, RQueue, WQueue, UID  uint32
	Inode                         uint32
}

// TCP states a Diag may hold (include/net/tcp_states.h); Dump's mask is
// 1<<state.
const (
	StateEstablished = 1
	StateListen      = 10
)

const (
	// Timer values a Diag may hold.
	// idiag_timer values (net/ipv4/inet_diag.c): the retransmit, loss probe
	// or reordering timer; the socket timer, which for an established TCP
	// socket is the keepalive timer; TIME_WAIT; the zero window probe.
	TimerNone      = 0
	TimerRetrans   = 1
	TimerKeepalive = 2
	TimerProbe0    = 4
)

// Diag is what sock_diag says of one socket.
type Diag struct {
	State, Timer, Retrans uint8
	Expires               uint32 // milliseconds until the timer fires
	Local, Peer           netip.AddrPort
}

// AllStates asks for TCP sockets in any state.
const AllStates = 0xfff

// Established dumps the established TCP sockets (IPv4 and IPv6) of the
// network namespace that fd's netlink socket was made in, by inode.
func Established(fd int) (map[uint64]Diag, error) {
	return Dump(fd, 1<<StateEstablished)
}

// Dump lists the TCP sockets in states (a mask of 1<<state), by inode.
func Dump(fd int, states uint32) (map[uint64]Diag, error) {
	out := map[uint64]Diag{}
	buf := make([]byte, 1<<20)
	for seq, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := struct {
			hdr unix.NlMsghdr
			req inetDiagReqV2
		}{
			hdr: unix.NlMsghdr{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP, Seq: uint32(seq + 1)},
			req: inetDiagReqV2{Family: family, Protocol: unix.IPPROTO_TCP, States: states},
		}
		req.hdr.Len = uint32(unsafe.Sizeof(req))
		b := (*[unsafe.Sizeof(req)]byte)(unsafe.Pointer(&req))[:]
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sock_diag request: %w", err)
		}
	recv:
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("sock_diag: %w", err)
			}
			for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
				h := (*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
				if h.Len < unix.NLMSG_HDRLEN || int(h.Len) > len(b) {
					return nil, fmt.Errorf("sock_diag: a message of %d bytes in %d", h.Len, len(b))
				}
				body := b[unix.NLMSG_HDRLEN:h.Len]
				switch h.Type {
				case unix.NLMSG_DONE:
					break recv
				case unix.NLMSG_ERROR:
					if len(body) >= 4 {
						if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
							return nil, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
						}
					}
					break recv
				case unix.SOCK_DIAG_BY_FAMILY:
					if len(body) >= int(unsafe.Sizeof(inetDiagMsg{})) {
						m := (*inetDiagMsg)(unsafe.Pointer(&body[0]))
						if m.Inode != 0 { // 0: still in a listener's queue, nobody holds it
							out[uint64(m.Inode)] = Diag{State: m.State, Timer: m.Timer, Retrans: m.Retrans, Expires: m.Expires,
								Local: addrPort(m.Family, m.ID.Src, m.ID.SPort), Peer: addrPort(m.Family, m.ID.Dst, m.ID.DPort)}
						}
					}
				}
				adv := (int(h.Len) + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
				if adv > len(b) {
					break
				}
				b = b[adv:]
			}
		}
	}
	return out, nil
}

func addrPort(family uint8, ip [16]byte, port [2]byte) netip.AddrPort {
	a := netip.AddrFrom16(ip)
	if family == unix.AF_INET {
		a = netip.AddrFrom4([4]byte(ip[:4]))
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(port[:]))
}

// tcpStates are ss's names for the kernel's TCP states.
var tcpStates = [...]string{1: "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "UNCONN",
	"CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"}

// StateName is ss's name for a TCP state.
func StateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return fmt.Sprintf("state-%d", s)
}

// TimerText is the running timer as ss shows it: name, time left, and
// retransmissions or probes sent.
func TimerText(d Diag) string {
	name := map[uint8]string{TimerRetrans: "on", TimerKeepalive: "keepalive", 3: "timewait", TimerProbe0: "persist"}[d.Timer]
	if name == "" {
		return "-"
	}
	left := fmt.Sprintf("%dms", d.Expires)
	if d.Expires >= 1000 {
		left = fmt.Sprintf("%ds", (d.Expires+500)/1000)
	}
	return fmt.Sprintf("%s,%s,%d", name, left, d.Retrans)
}

// Endpoint is an address as ss shows it; a listener's unset peer is *.
func Endpoint(a netip.AddrPort) string {
	if a.Port() == 0 && a.Addr().IsUnspecified() {
		return a.Addr().String() + ":*"
	}
	return a.String()
}

// NetNS names pid's network namespace (the link of /proc/PID/ns/net).
func NetNS(pid int) (string, error) { return os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)) }

// NamespaceError is a network namespace that could not be entered.
type NamespaceError struct{ Err error }

func (e *NamespaceError) Error() string {
	return fmt.Sprintf("in another network namespace, which needs root to enter (%v)", e.Err)
}

// Open opens a sock_diag socket in the network namespace ns (NetNS of pid):
// this process's own, or pid's, entered.
func Open(pid int, ns string) (int, error) {
	if self, _ := NetNS(os.Getpid()); ns == self {
		return diagSocket()
	}
	fd, err := diagSocketIn(pid)
	if err != nil {
		return -1, &NamespaceError{err}
	}
	return fd, nil
}

func diagSocket() (int, error) {
	return unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
}

// diagSocketIn opens a sock_diag socket in the network namespace of pid: a
// netlink socket stays in the namespace it was made in. Entering it needs
// CAP_SYS_ADMIN; the thread that entered is never used again (it stays
// locked and ends with its goroutine).
func diagSocketIn(pid int) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{-1, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := diagSocket()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}
