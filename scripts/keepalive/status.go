package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/shim"
)

// sock is one TCP socket of the process, as ss sees it.
type sock struct {
	fd           int
	state        string
	local, peer  string
	timer        string // ss's timer, "-" for none
	keepalive    string // from getsockopt on a duplicate of the descriptor
	idle, intvl  string
	cnt, timeout string
}

var (
	inoRe   = regexp.MustCompile(`\bino:(\d+)`)
	timerRe = regexp.MustCompile(`\btimer:\(([^)]*)\)`)
)

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
	inodes := map[string]int{} // socket inode -> descriptor
	for _, e := range fds {
		target, err := os.Readlink(proc + "/fd/" + e.Name())
		if ino, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			fd, _ := strconv.Atoi(e.Name())
			inodes[strings.TrimSuffix(ino, "]")] = fd
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

// listTCP asks ss, in the process's network namespace, for the TCP sockets
// whose inodes the process holds.
func listTCP(pid int, inodes map[string]int) ([]sock, error) {
	args := []string{"-tanoeH"}
	cmd := exec.Command("ss", args...)
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err == nil && theirs != self {
		cmd = exec.Command("nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", "ss"}, args...)...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	var socks []sock
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		m := inoRe.FindStringSubmatch(l)
		if len(f) < 5 || m == nil {
			continue
		}
		fd, ok := inodes[m[1]]
		if !ok {
			continue
		}
		s := sock{fd: fd, state: f[0], local: f[3], peer: f[4], timer: "-"}
		if t := timerRe.FindStringSubmatch(l); t != nil {
			s.timer = t[1]
		}
		socks = append(socks, s)
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
