// Package apply gives a running process's existing TCP connections
// keepalive, without restarting it: each socket descriptor is duplicated
// into this process (pidfd_getfd, Linux 5.6) and setsockopt on the
// duplicate changes the one socket both descriptors name. The target is
// never stopped, traced or signalled; pidfd_getfd only needs the right to
// ptrace it (PTRACE_MODE_ATTACH_REALCREDS), the same as reading its options.
package apply

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/procsock"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// Outcome is what became of one socket.
type Outcome int

const (
	// Changed: the socket has the settings now.
	Changed Outcome = iota
	// LeftAlone: its program had turned keepalive on itself, and without
	// Force its own settings stay.
	LeftAlone
	// Gone: the descriptor was closed, or reused for another file, between
	// the listing and the duplicate; the socket listed is not held there
	// any more, so there is nothing to cure and nothing was touched.
	Gone
	// Failed: the socket is still as it was, or only partly set (Err says
	// which option the kernel refused).
	Failed
)

var outcomeNames = [...]string{Changed: "changed", LeftAlone: "left-alone", Gone: "gone", Failed: "failed"}

func (o Outcome) String() string { return outcomeNames[o] }

// Socket is one established or listening TCP socket of the process.
type Socket struct {
	FD          int
	Inode       uint64
	Listening   bool
	Local, Peer netip.AddrPort
	Outcome     Outcome
	Err         error // why, for Failed
	// SharedWith is the process it was already handled in, in this run
	// (a socket inherited across fork is one socket): 0 when it was not.
	SharedWith int
	// Rule is the rule by destination it fell under, -1 for the default
	// (or a run without rules).
	Rule int
}

// Process is the result for one process.
type Process struct {
	PID     int
	Command string
	Sockets []Socket
	// Err: nothing of the process could be reached (it does not exist, or
	// it may not be inspected or duplicated from); Sockets then lists what
	// was seen, all Failed, if anything.
	Err error
}

// Count is the number of the process's sockets with outcome o; listening
// tells listeners from connections.
func (p Process) Count(o Outcome, listening bool) int {
	n := 0
	for _, s := range p.Sockets {
		if s.Outcome == o && s.Listening == listening && s.SharedWith == 0 {
			n++
		}
	}
	return n
}

// Shared is the number of sockets already handled in another process.
func (p Process) Shared() int {
	n := 0
	for _, s := range p.Sockets {
		if s.SharedWith != 0 {
			n++
		}
	}
	return n
}

// ErrNoProcess is a process that does not exist (or exited meanwhile).
var ErrNoProcess = errors.New("no such process")

// Refused is pidfd_getfd (or reading /proc/PID/fd) refused, with the
// reason in words for the operator.
type Refused struct {
	Err error  // the system call's error
	Why string // the reason, and what to do
}

func (r *Refused) Error() string { return fmt.Sprintf("%s (%v)", r.Why, r.Err) }
func (r *Refused) Unwrap() error { return r.Err }

// Run is one apply over any number of processes.
type Run struct {
	policy sockops.Policy
	// done records the sockets handled, by inode, with the process they
	// were handled in: a socket shared by a parent and its workers is set
	// once.
	done map[uint64]int
	// diag is each network namespace's sockets, dumped once: a host's
	// processes mostly share one namespace, and a dump per process would
	// read every socket of it again each time.
	diag map[string]map[uint64]procsock.Diag
	// listening is each network namespace's listening ports, which tell
	// a connection accepted from one made, for its rule's service port.
	listening map[string]procsock.Ports
}

// NewRun is an apply of p. Without its Force flag a socket whose program
// turned keepalive on itself keeps its own settings. With rules by
// destination, each connection gets its rule's settings (or is left alone
// by a KEEPALIVE=off rule), and listening sockets are left alone: what a
// listener passes on would give every connection it accepts one rule.
func NewRun(p sockops.Policy) *Run {
	return &Run{policy: p, done: map[uint64]int{}, diag: map[string]map[uint64]procsock.Diag{},
		listening: map[string]procsock.Ports{}}
}

// Apply gives the established and listening TCP sockets of pid the run's
// settings.
func (r *Run) Apply(pid int) Process {
	done := r.done
	p := Process{PID: pid}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		p.Err = ErrNoProcess
		return p
	}
	p.Command = strings.TrimSuffix(string(comm), "\n")
	fds, err := procsock.Sockets(pid)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.Err = ErrNoProcess
		return p
	case errors.Is(err, os.ErrPermission):
		p.Err = &Refused{unix.EACCES, refusedWhy(pid, unix.EACCES)}
		return p
	case err != nil:
		p.Err = err
		return p
	}
	if len(fds) == 0 {
		return p
	}
	diag, listening, err := r.tcpSockets(pid)
	if err != nil {
		p.Err = err
		return p
	}
	for _, f := range fds {
		d, ok := diag[f.Inode]
		if !ok {
			continue
		}
		sk := Socket{FD: f.Num, Inode: f.Inode, Listening: d.State == procsock.StateListen, Local: d.Local, Peer: d.Peer, Rule: -1}
		if !sk.Listening && len(r.policy.Rules) > 0 {
			c := procsock.Conn{Local: d.Local, Peer: d.Peer}
			sk.Rule = r.policy.Match(d.Peer.Addr(), c.ServicePort(listening))
		}
		if first, seen := done[f.Inode]; seen {
			sk.SharedWith = first
		}
		p.Sockets = append(p.Sockets, sk)
	}
	if len(p.Sockets) == 0 {
		return p
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			p.Err = ErrNoProcess
		} else {
			p.Err = &Refused{err, refusedWhy(pid, err)}
		}
		failAll(&p)
		return p
	}
	defer unix.Close(pidfd)
	for i := range p.Sockets {
		sk := &p.Sockets[i]
		if sk.SharedWith != 0 {
			continue
		}
		s := r.policy.Settings(sk.Rule)
		if s.Flags&sockops.LeaveAlone != 0 || sk.Listening && len(r.policy.Rules) > 0 {
			sk.Outcome = LeftAlone
			done[sk.Inode] = pid
			continue
		}
		sk.Outcome, sk.Err = set(pidfd, procsock.FD{Num: sk.FD, Inode: sk.Inode}, s)
		if errors.Is(sk.Err, unix.ESRCH) {
			// The process ended meanwhile: its sockets went with it.
			p.Err = ErrNoProcess
			for j := i; j < len(p.Sockets); j++ {
				if p.Sockets[j].SharedWith == 0 {
					p.Sockets[j].Outcome, p.Sockets[j].Err = Gone, nil
				}
			}
			return p
		}
		var r *Refused
		if errors.As(sk.Err, &r) {
			// Refused for one is refused for all: said once, for the process.
			p.Err = r
			failAll(&p)
			return p
		}
		if sk.Outcome != Gone {
			done[sk.Inode] = pid
		}
	}
	return p
}

func failAll(p *Process) {
	for i := range p.Sockets {
		if p.Sockets[i].SharedWith == 0 {
			p.Sockets[i].Outcome, p.Sockets[i].Err = Failed, p.Err
		}
	}
}

// tcpSockets are the established and listening TCP sockets of pid's
// network namespace, by inode, as dumped at the namespace's first process.
// A connection made since then is not in it, as it would not be in a
// listing made a moment earlier; one closed since is found gone by set.
func (r *Run) tcpSockets(pid int) (map[uint64]procsock.Diag, procsock.Ports, error) {
	ns, err := procsock.NetNS(pid)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := r.diag[ns]; ok {
		return d, r.listening[ns], nil
	}
	fd, err := procsock.Open(pid, ns)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	d, err := procsock.Dump(fd, 1<<procsock.StateEstablished|1<<procsock.StateListen)
	if err != nil {
		return nil, nil, err
	}
	ports := procsock.Ports{}
	for _, x := range d {
		if x.State == procsock.StateListen {
			ports[x.Local.Port()] = true
		}
	}
	r.diag[ns], r.listening[ns] = d, ports
	return d, ports, nil
}

// set duplicates fd and gives it s, once it is sure the duplicate is the
// socket listed (the inode): a descriptor closed and reused for another
// socket between the listing and now must not get settings meant for the
// one listed.
//
// SO_KEEPALIVE goes first: TCP_KEEPIDLE set after it counts the time the
// connection has already been idle (tcp_sock_set_keepidle_locked), so a
// connection silent for longer than the idle time is probed at once rather
// than a full idle time from now.
func set(pidfd int, fd procsock.FD, s sockops.Settings) (Outcome, error) {
	dup, err := unix.PidfdGetfd(pidfd, fd.Num, 0)
	switch {
	case err == unix.EBADF:
		return Gone, nil
	case err == unix.ESRCH:
		return Gone, err
	case err == unix.EPERM || err == unix.EACCES || err == unix.ENOSYS:
		return Failed, &Refused{err, refusedWhy(0, err)}
	case err != nil:
		return Failed, fmt.Errorf("pidfd_getfd: %w", err)
	}
	defer unix.Close(dup)
	var st unix.Stat_t
	if err := unix.Fstat(dup, &st); err != nil || st.Ino != fd.Inode || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return Gone, nil
	}
	on, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		return Failed, fmt.Errorf("getsockopt SO_KEEPALIVE: %w", err)
	}
	if on != 0 && s.Flags&sockops.Force == 0 {
		return LeftAlone, nil
	}
	if err := unix.SetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return Failed, fmt.Errorf("setsockopt SO_KEEPALIVE: %w", err)
	}
	for _, o := range []struct {
		flag  uint32
		name  string
		opt   int
		value uint32
	}{
		{sockops.HasIdle, "TCP_KEEPIDLE", unix.TCP_KEEPIDLE, s.Idle},
		{sockops.HasIntvl, "TCP_KEEPINTVL", unix.TCP_KEEPINTVL, s.Intvl},
		{sockops.HasCnt, "TCP_KEEPCNT", unix.TCP_KEEPCNT, s.Cnt},
		{sockops.HasUserTimeout, "TCP_USER_TIMEOUT", unix.TCP_USER_TIMEOUT, s.UserTimeout},
	} {
		if s.Flags&o.flag == 0 {
			continue
		}
		if err := unix.SetsockoptInt(dup, unix.IPPROTO_TCP, o.opt, int(o.value)); err != nil {
			return Failed, fmt.Errorf("setsockopt %s %d: %w (keepalive is on, with the options before it)", o.name, o.value, err)
		}
		// Read back: a cgroup/setsockopt program on this command's own
		// cgroup (keepalive cgroup attach --force above it) rewrites what
		// this command sets, and the socket would then not hold what the
		// operator asked for while this said it did.
		if got, err := unix.GetsockoptInt(dup, unix.IPPROTO_TCP, o.opt); err == nil && got != int(o.value) {
			return Failed, fmt.Errorf("%s was set to %d but the socket holds %d: a cgroup setsockopt program (keepalive cgroup "+
				"attach --force on this command's cgroup?) rewrote it; run keepalive apply from another cgroup", o.name, o.value, got)
		}
	}
	return Changed, nil
}

// refusedWhy says why duplicating pid's descriptors was refused, from what
// the kernel allows: Yama's ptrace_scope, ownership, the kernel's age.
func refusedWhy(pid int, err error) string {
	if err == unix.ENOSYS {
		var u unix.Utsname
		unix.Uname(&u)
		return fmt.Sprintf("this kernel (Linux %s) has no pidfd_getfd, which came in Linux 5.6 (or a seccomp filter hides it); "+
			"new connections can still get keepalive from keepalive cgroup attach", unix.ByteSliceToString(u.Release[:]))
	}
	scope := -1
	if b, rerr := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); rerr == nil {
		scope, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if scope == 3 {
		return "Yama's kernel.yama.ptrace_scope is 3 here, which forbids every process, root too, to reach another's descriptors " +
			"until the next boot; keepalive cgroup attach still gives new connections keepalive"
	}
	owner := -1
	if pid > 0 {
		var st unix.Stat_t
		if unix.Stat("/proc/"+strconv.Itoa(pid), &st) == nil {
			owner = int(st.Uid)
		}
	}
	if os.Geteuid() != 0 && owner >= 0 && owner != os.Geteuid() {
		return fmt.Sprintf("permission denied: the process is another user's (uid %d): run keepalive apply as root or as that user", owner)
	}
	if os.Geteuid() != 0 && scope >= 1 {
		return fmt.Sprintf("Yama's kernel.yama.ptrace_scope is %d here, which lets only root (CAP_SYS_PTRACE) reach the descriptors "+
			"of a process that is not this one's child: run keepalive apply as root", scope)
	}
	if os.Geteuid() != 0 {
		return "permission denied: reaching a process's descriptors needs the right to trace it " +
			"(the same user and no setuid change, or root); run keepalive apply as root"
	}
	return "refused although run as root: a security module (SELinux, AppArmor) or a seccomp filter on this command " +
		"forbids pidfd_getfd; keepalive cgroup attach still gives new connections keepalive"
}
