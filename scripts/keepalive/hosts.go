package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/procsock"
	"github.com/libkeepalive/libkeepalive/shim"
)

// procConns is one process's established TCP connections.
type procConns struct {
	pid       int
	comm      string
	tcp       int
	keepalive int
	unknown   int  // keepalive state hidden by another running timer
	minIdle   int  // shortest TCP_KEEPIDLE among keepalive connections, seconds; 0 unknown
	inferred  bool // keepalive read from the kernel's timers, not getsockopt
	fds       []procsock.FD
}

// skipReasons counts processes that could not be inspected, by reason.
type skipReasons map[string]int

// statusAll lists every process the caller may inspect that holds
// established TCP connections.
//
// Which connections have SO_KEEPALIVE on: inet_diag does not carry the
// flag (nor does tcp_info). For an established socket the kernel runs the
// socket timer only as the keepalive timer, so idiag_timer 2 means
// keepalive on and 0 means off; but a pending retransmission or zero window
// probe hides it (1 or 4). So the flag is read with getsockopt on a
// duplicate of each descriptor (pidfd_getfd, which also gives
// TCP_KEEPIDLE), and the timer serves only where that is refused (Yama
// ptrace_scope, another user's process without root); connections it
// cannot tell are counted as unknown.
func statusAll(stdout, stderr io.Writer, timers, asJSON bool) int {
	h, err := gatherHost(timers)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: %v\n", err)
		return 1
	}
	if asJSON {
		return writeJSON(stdout, stderr, h.report())
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCOMMAND\tTCP\tKEEPALIVE\tIDLE\tAT-RISK")
	for _, p := range h.listed {
		idle := "-"
		switch {
		case p.keepalive > 0 && p.minIdle > 0:
			idle = strconv.Itoa(p.minIdle) + "s"
		case p.keepalive > 0:
			idle = "?"
		}
		risk := "-"
		switch {
		case p.atRisk() > 0:
			risk = fmt.Sprintf("AT-RISK:%d", p.atRisk())
		case p.unknown > 0:
			risk = fmt.Sprintf("?:%d", p.unknown)
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\n", p.pid, shim.Quote(p.comm), p.tcp, p.keepalive, idle, risk)
	}
	w.Flush()
	conns, risky, riskyConns, inferred := h.totals()
	fmt.Fprintf(stdout, "%d process(es) hold %d established TCP connection(s); %d connection(s) in %d process(es) have no keepalive (AT-RISK)",
		len(h.listed), conns, riskyConns, risky)
	nskip := 0
	var why []string
	for r, n := range h.skipped {
		nskip += n
		why = append(why, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(why)
	if nskip > 0 {
		fmt.Fprintf(stdout, "; %d process(es) skipped: %s", nskip, strings.Join(why, ", "))
	} else {
		fmt.Fprint(stdout, "; none skipped")
	}
	fmt.Fprintln(stdout)
	if riskyConns > 0 {
		fmt.Fprintln(stdout, "(keepalive apply PID... gives the connections AT-RISK keepalive now, without a restart)")
	}
	if inferred > 0 {
		fmt.Fprintf(stdout, "(for %d process(es) keepalive was read from the kernel's timers, not from their descriptors; "+
			"?:N counts connections whose keepalive timer is hidden by a retransmission, and IDLE is then ?)\n", inferred)
	}
	return 0
}

// host is every process the caller may inspect that holds established TCP
// connections, and the processes skipped, by reason.
type host struct {
	listed  []*procConns
	skipped skipReasons
}

func (p *procConns) atRisk() int { return p.tcp - p.keepalive - p.unknown }

// totals are the connections, the processes and connections at risk, and
// the processes read from the timers.
func (h *host) totals() (conns, risky, riskyConns, inferred int) {
	for _, p := range h.listed {
		conns += p.tcp
		if n := p.atRisk(); n > 0 {
			risky++
			riskyConns += n
		}
		if p.inferred {
			inferred++
		}
	}
	return
}

func gatherHost(timers bool) (*host, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	h := &host{skipped: skipReasons{}}
	byNS := map[string][]*procConns{} // network namespace -> processes
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
				h.skipped["permission denied (another user's; run as root)"]++
			}
			continue
		case err != nil:
			h.skipped[err.Error()]++
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
			h.skipped[reason] += len(procs)
			continue
		}
		socks, err := procsock.Established(fd)
		unix.Close(fd)
		if err != nil {
			h.skipped[err.Error()] += len(procs)
			continue
		}
		for _, p := range procs {
			if count(p, socks, timers) {
				h.listed = append(h.listed, p)
			}
		}
	}
	sort.Slice(h.listed, func(i, j int) bool { return h.listed[i].pid < h.listed[j].pid })
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
func sockets(pid int) (*procConns, string, error) {
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
	return &procConns{pid: pid, comm: strings.TrimSuffix(string(comm), "\n"), fds: fds}, ns, nil
}

// count fills in p's connections from socks; false when it holds none.
func count(p *procConns, socks map[uint64]procsock.Diag, timers bool) bool {
	pidfd, err := -1, errors.New("--timers")
	if !timers {
		pidfd, err = unix.PidfdOpen(p.pid, 0)
		if err == nil {
			defer unix.Close(pidfd)
		}
	}
	for _, fd := range p.fds {
		d, ok := socks[fd.Inode]
		if !ok {
			continue
		}
		p.tcp++
		if pidfd >= 0 && err == nil {
			o, gerr := procsock.Read(pidfd, fd)
			switch {
			case gerr == nil:
				if o.Keepalive != 0 {
					p.keepalive++
					if o.Idle > 0 && (p.minIdle == 0 || o.Idle < p.minIdle) {
						p.minIdle = o.Idle
					}
				}
				continue
			case errors.Is(gerr, procsock.ErrChanged):
				// closed or replaced since we looked: the timer tells
			default:
				err = gerr // refused once, refused for all: use the timers
			}
		}
		p.inferred = true
		switch d.Timer {
		case procsock.TimerKeepalive:
			p.keepalive++
		case procsock.TimerNone:
		default:
			p.unknown++
		}
	}
	return p.tcp > 0
}
