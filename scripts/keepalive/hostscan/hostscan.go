// Package hostscan finds every process the caller may inspect that holds
// established TCP connections, and how many of them have keepalive: from
// /proc, one sock_diag dump per network namespace, and getsockopt on a
// duplicate of each descriptor (or the kernel's timers where that is
// refused). keepalive status and keepalive metrics show what it finds.
package hostscan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/procsock"
)

// Process is one process's established TCP connections.
type Process struct {
	PID       int
	Command   string
	TCP       int  // established TCP connections
	Keepalive int  // of them, with keepalive on
	Unknown   int  // keepalive state hidden by another running timer
	MinIdle   int  // shortest TCP_KEEPIDLE among keepalive connections, seconds; 0 unknown
	Inferred  bool // keepalive read from the kernel's timers, not getsockopt
	// With Options.Conns: the connections without keepalive (AtRisk of
	// them), and the network namespace they are in.
	AtRiskConns []Conn
	NetNS       string
	fds         []procsock.FD
}

// Which connections have SO_KEEPALIVE on: inet_diag does not carry the
// flag (nor does tcp_info). For an established socket the kernel runs the
// socket timer only as the keepalive timer, so idiag_timer 2 means
// keepalive on and 0 means off; but a pending retransmission or zero window
// probe hides it (1 or 4). So the flag is read with getsockopt on a
// duplicate of each descriptor (pidfd_getfd, which also gives
// TCP_KEEPIDLE), and the timer serves only where that is refused (Yama
// ptrace_scope, another user's process without root); connections it
// cannot tell are counted as unknown.

// Host is every process the caller may inspect that holds established TCP
// connections, and the processes skipped, by reason.
type Host struct {
	Listed  []*Process
	Skipped map[string]int
	// With Options.Conns: each network namespace's listening TCP ports.
	Listening map[string]Ports
}

// Options say what Scan reads.
type Options struct {
	// Timers reads keepalive from the kernel's timers only, without
	// duplicating descriptors.
	Timers bool
	// Conns keeps the ends of each connection without keepalive and the
	// listening ports of each network namespace, for ByRule.
	Conns bool
}

// AtRisk is the connections without keepalive.
func (p *Process) AtRisk() int { return p.TCP - p.Keepalive - p.Unknown }

// Totals are the connections, the processes and connections at risk, and
// the processes read from the timers.
func (h *Host) Totals() (conns, risky, riskyConns, inferred int) {
	for _, p := range h.Listed {
		conns += p.TCP
		if n := p.AtRisk(); n > 0 {
			risky++
			riskyConns += n
		}
		if p.Inferred {
			inferred++
		}
	}
	return
}

// Scan lists the host's processes (all but this one).
func Scan(o Options) (*Host, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	h := &Host{Skipped: map[string]int{}, Listening: map[string]Ports{}}
	byNS := map[string][]*Process{} // network namespace -> processes
	nsPID := map[string]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p, ns, err := sockets(pid)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // ended while we looked
		case errors.Is(err, fs.ErrPermission):
			if !kernelThread(pid) {
				h.Skipped["permission denied (another user's; run as root)"]++
			}
			continue
		case err != nil:
			h.Skipped[err.Error()]++
			continue
		case p == nil:
			continue
		}
		byNS[ns] = append(byNS[ns], p)
		nsPID[ns] = pid
	}
	for ns, procs := range byNS {
		fd, err := procsock.Open(nsPID[ns], ns)
		if err != nil {
			reason := err.Error()
			if !errors.As(err, new(*procsock.NamespaceError)) {
				reason = fmt.Sprintf("sock_diag socket: %v", err)
			}
			h.Skipped[reason] += len(procs)
			continue
		}
		states := uint32(1 << procsock.StateEstablished)
		if o.Conns {
			states |= 1 << procsock.StateListen
		}
		socks, err := procsock.Dump(fd, states)
		unix.Close(fd)
		if err != nil {
			h.Skipped[err.Error()] += len(procs)
			continue
		}
		if o.Conns {
			listening := Ports{}
			for _, d := range socks {
				if d.State == procsock.StateListen {
					listening[d.Local.Port()] = true
				}
			}
			h.Listening[ns] = listening
		}
		for _, p := range procs {
			p.NetNS = ns
			if count(p, socks, o) {
				h.Listed = append(h.Listed, p)
			}
		}
	}
	sort.Slice(h.Listed, func(i, j int) bool { return h.Listed[i].PID < h.Listed[j].PID })
	return h, nil
}

// kernelThread: a kernel thread holds no socket, and its descriptors are
// unreadable to a user like any root process's; it is not worth a skip.
func kernelThread(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The flags are the 9th field, the 7th after the name's ')'.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	const pfKthread = 0x00200000
	return err == nil && flags&pfKthread != 0
}

// sockets reads a process's descriptors for sockets; nil when it holds none.
func sockets(pid int) (*Process, string, error) {
	fds, err := procsock.Sockets(pid)
	if err != nil || len(fds) == 0 {
		return nil, "", err
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return nil, "", err
	}
	ns, err := procsock.NetNS(pid)
	if err != nil {
		return nil, "", err
	}
	return &Process{PID: pid, Command: strings.TrimSuffix(string(comm), "\n"), fds: fds}, ns, nil
}

// count fills in p's connections from socks; false when it holds none.
func count(p *Process, socks map[uint64]procsock.Diag, o Options) bool {
	pidfd, err := -1, errors.New("--timers")
	if !o.Timers {
		pidfd, err = unix.PidfdOpen(p.PID, 0)
		if err == nil {
			defer unix.Close(pidfd)
		}
	}
	for _, fd := range p.fds {
		d, ok := socks[fd.Inode]
		if !ok || d.State != procsock.StateEstablished {
			continue
		}
		p.TCP++
		atRisk := func() {
			if o.Conns {
				p.AtRiskConns = append(p.AtRiskConns, Conn{Local: d.Local, Peer: d.Peer})
			}
		}
		if pidfd >= 0 && err == nil {
			opts, gerr := procsock.Read(pidfd, fd)
			switch {
			case gerr == nil:
				if opts.Keepalive != 0 {
					p.Keepalive++
					if opts.Idle > 0 && (p.MinIdle == 0 || opts.Idle < p.MinIdle) {
						p.MinIdle = opts.Idle
					}
				} else {
					atRisk()
				}
				continue
			case errors.Is(gerr, procsock.ErrChanged):
				// closed or replaced since we looked: the timer tells
			default:
				err = gerr // refused once, refused for all: use the timers
			}
		}
		p.Inferred = true
		switch d.Timer {
		case procsock.TimerKeepalive:
			p.Keepalive++
		case procsock.TimerNone:
			atRisk()
		default:
			p.Unknown++
		}
	}
	return p.TCP > 0
}
