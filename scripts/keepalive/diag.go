package main

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

const (
	tcpEstablished = 1
	// idiag_timer values (net/ipv4/inet_diag.c): the retransmit, loss probe
	// or reordering timer; the socket timer, which for an established TCP
	// socket is the keepalive timer; TIME_WAIT; the zero window probe.
	timerNone      = 0
	timerRetrans   = 1
	timerKeepalive = 2
	timerProbe0    = 4
)

// diagSock is what sock_diag says of one socket.
type diagSock struct {
	state, timer, retrans uint8
	expires               uint32 // milliseconds until the timer fires
	local, peer           netip.AddrPort
}

// allStates asks for TCP sockets in any state.
const allStates = 0xfff

// established dumps the established TCP sockets (IPv4 and IPv6) of the
// network namespace that fd's netlink socket was made in, by inode.
func established(fd int) (map[uint64]diagSock, error) {
	return dump(fd, 1<<tcpEstablished)
}

// dump lists the TCP sockets in states (a mask of 1<<state), by inode.
func dump(fd int, states uint32) (map[uint64]diagSock, error) {
	out := map[uint64]diagSock{}
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
			return nil, fmt.Errorf("sock_diag request: %v", err)
		}
	recv:
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("sock_diag: %v", err)
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
							return nil, fmt.Errorf("sock_diag: %v", unix.Errno(-e))
						}
					}
					break recv
				case unix.SOCK_DIAG_BY_FAMILY:
					if len(body) >= int(unsafe.Sizeof(inetDiagMsg{})) {
						m := (*inetDiagMsg)(unsafe.Pointer(&body[0]))
						if m.Inode != 0 { // 0: still in a listener's queue, nobody holds it
							out[uint64(m.Inode)] = diagSock{state: m.State, timer: m.Timer, retrans: m.Retrans, expires: m.Expires,
								local: addrPort(m.Family, m.ID.Src, m.ID.SPort), peer: addrPort(m.Family, m.ID.Dst, m.ID.DPort)}
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

func stateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return fmt.Sprintf("state-%d", s)
}

// timerText is the running timer as ss shows it: name, time left, and
// retransmissions or probes sent.
func timerText(d diagSock) string {
	name := map[uint8]string{timerRetrans: "on", timerKeepalive: "keepalive", 3: "timewait", timerProbe0: "persist"}[d.timer]
	if name == "" {
		return "-"
	}
	left := fmt.Sprintf("%dms", d.expires)
	if d.expires >= 1000 {
		left = fmt.Sprintf("%ds", (d.expires+500)/1000)
	}
	return fmt.Sprintf("%s,%s,%d", name, left, d.retrans)
}

// endpoint is an address as ss shows it; a listener's unset peer is *.
func endpoint(a netip.AddrPort) string {
	if a.Port() == 0 && a.Addr().IsUnspecified() {
		return a.Addr().String() + ":*"
	}
	return a.String()
}

// diagSocket opens a sock_diag socket in this process's network namespace.
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
