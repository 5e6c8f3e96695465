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

	"github.com/libkeepalive/libkeepalive/shim"
)

// sock is one TCP socket of the process.
type sock struct {
	fd           int
	state        string
	local, peer  string
	timer        string // ss's timer, "-" for none
	keepalive    string // from getsockopt on a duplicate of the descriptor
	idle, intvl  string
	cnt, timeout string
}

func status(args []string, stdout, stderr io.Writer) int {
	timers := len(args) > 0 && (args[0] == "--timers" || args[0] == "-timers")
	if timers {
		args = args[1:]
	}
	if len(args) == 0 {
		return statusAll(stdout, stderr, timers)
	}
	if len(args) != 1 || timers {
		fmt.Fprint(stderr, "usage: keepalive status [--timers] | keepalive status PID\n")
		return 2
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		fmt.Fprintf(stderr, "keepalive status: %s is not a process ID\n", shim.Quote(args[0]))
		return 2
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	comm, err := os.ReadFile(proc + "/comm")
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: no process %d\n", pid)
		return 1
	}
	// A process names itself (prctl PR_SET_NAME): quoted, so that no
	// terminal escape in it reaches the caller's terminal.
	name := shim.Quote(strings.TrimSuffix(string(comm), "\n"))
	fds, err := os.ReadDir(proc + "/fd")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			fmt.Fprintf(stderr, "keepalive status: cannot inspect process %d (%s): permission denied; run as its user or as root\n", pid, name)
		} else {
			fmt.Fprintf(stderr, "keepalive status: cannot inspect process %d (%s): %v\n", pid, name, err)
		}
		return 1
	}
	inodes := map[uint64]int{} // socket inode -> descriptor
	for _, e := range fds {
		target, err := os.Readlink(proc + "/fd/" + e.Name())
		if ino, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			fd, _ := strconv.Atoi(e.Name())
			n, _ := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 64)
			inodes[n] = fd
		}
	}
	socks, err := listTCP(pid, inodes)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: %v\n", err)
		return 1
	}
	sort.Slice(socks, func(i, j int) bool { return socks[i].fd < socks[j].fd })
	note := readOptions(pid, socks)
	if len(socks) == 0 {
		fmt.Fprintf(stdout, "process %d (%s): no TCP sockets\n", pid, name)
		return 0
	}
	fmt.Fprintf(stdout, "process %d (%s): %d TCP socket(s)\n", pid, name, len(socks))
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FD\tSTATE\tLOCAL\tPEER\tKEEPALIVE\tIDLE\tINTVL\tCNT\tUSER-TIMEOUT\tTIMER")
	for _, s := range socks {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.fd, s.state, s.local, s.peer,
			s.keepalive, s.idle, s.intvl, s.cnt, s.timeout, s.timer)
	}
	w.Flush()
	if note != "" {
		fmt.Fprintln(stdout, note)
	}
	return 0
}

// listTCP reads, through sock_diag in the process's network namespace,
// the TCP sockets whose inodes the process holds.
func listTCP(pid int, inodes map[uint64]int) ([]sock, error) {
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	var fd int
	if theirs == self {
		fd, err = diagSocket()
	} else if fd, err = diagSocketIn(pid); err != nil {
		return nil, fmt.Errorf("process %d is in another network namespace, which needs root to enter (%v)", pid, err)
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	all, err := dump(fd, allStates)
	if err != nil {
		return nil, err
	}
	var socks []sock
	for ino, fd := range inodes {
		if d, ok := all[ino]; ok {
			socks = append(socks, sock{fd: fd, state: stateName(d.state), local: endpoint(d.local), peer: endpoint(d.peer), timer: timerText(d)})
		}
	}
	return socks, nil
}

// readOptions fills in each socket's options from a duplicate of its
// descriptor (pidfd_getfd, Linux 5.6), which needs the right to ptrace the
// process. It returns a note when that was refused.
func readOptions(pid int, socks []sock) string {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		defer unix.Close(pidfd)
	}
	var refused error
	for i := range socks {
		s := &socks[i]
		s.keepalive, s.idle, s.intvl, s.cnt, s.timeout = "?", "?", "?", "?", "?"
		if err != nil {
			refused = err
			continue
		}
		fd, gerr := unix.PidfdGetfd(pidfd, s.fd, 0)
		if gerr != nil {
			refused = gerr
			continue
		}
		get := func(level, opt int) (int, bool) {
			v, err := unix.GetsockoptInt(fd, level, opt)
			return v, err == nil
		}
		if v, ok := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE); ok {
			s.keepalive = map[bool]string{true: "on", false: "off"}[v != 0]
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); ok {
			s.idle = strconv.Itoa(v) + "s"
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL); ok {
			s.intvl = strconv.Itoa(v) + "s"
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT); ok {
			s.cnt = strconv.Itoa(v)
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); ok {
			s.timeout = strconv.Itoa(v) + "ms"
		}
		unix.Close(fd)
	}
	if refused != nil {
		return fmt.Sprintf("(settings shown as ? could not be read: %v; they need the right to trace the process, as its user or root)", refused)
	}
	return ""
}
