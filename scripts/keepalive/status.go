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

// sock is one TCP socket of the process.
type sock struct {
	fd          procsock.FD
	state       string
	local, peer string
	timer       string            // ss's timer, "-" for none
	opts        *procsock.Options // from getsockopt on a duplicate of the descriptor; nil if not read
}

const statusUsage = `usage: keepalive status [--timers] [--json] [--config FILE]
       keepalive status [--json] PID

Lists every process you may inspect that holds established TCP connections:
how many, how many have keepalive on, the shortest idle time, and AT-RISK:N
when N have none (keepalive apply cures them without a restart). When the
configuration file holds rules by destination, the connections at risk are
also counted by the rule they fall under. With PID, one process's TCP
sockets with their settings and running timer. Other users' processes need
root.

  --timers       read keepalive from the kernel's timers, without duplicating
                 descriptors (a pending retransmission hides it: counted as ?)
  --json         the same as JSON, with field names that stay (docs/json.md)
  --config FILE  the configuration file whose rules by destination the
                 connections at risk are counted by (default:
                 /etc/keepalive.conf; KEEPALIVE_CONFIG is not read)
`

func status(args []string, stdout, stderr io.Writer) int {
	var timers, asJSON, hasConfig bool
	var config string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--timers" || a == "-timers":
			timers = true
		case a == "--json" || a == "-json":
			asJSON = true
		case a == "--config" || a == "-config":
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "keepalive status: --config needs a file\n%s", statusUsage)
				return 2
			}
			i++
			config, hasConfig = args[i], true
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			_, config, _ = strings.Cut(a, "=")
			hasConfig = true
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return statusAll(stdout, stderr, timers, asJSON, config)
	}
	if len(rest) != 1 || timers || hasConfig {
		fmt.Fprint(stderr, statusUsage)
		return 2
	}
	pid, err := strconv.Atoi(rest[0])
	if err != nil || pid <= 0 {
		fmt.Fprintf(stderr, "keepalive status: %s is not a process ID\n", shim.Quote(rest[0]))
		return 2
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	comm, err := os.ReadFile(proc + "/comm")
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: no process %d\n", pid)
		return 1
	}
	command := strings.TrimSuffix(string(comm), "\n")
	// A process names itself (prctl PR_SET_NAME): quoted, so that no
	// terminal escape in it reaches the caller's terminal.
	name := shim.Quote(command)
	if _, err := os.ReadDir(proc + "/fd"); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			fmt.Fprintf(stderr, "keepalive status: cannot inspect process %d (%s): permission denied; run as its user or as root\n", pid, name)
		} else {
			fmt.Fprintf(stderr, "keepalive status: cannot inspect process %d (%s): %v\n", pid, name, err)
		}
		return 1
	}
	fds, err := procsock.Sockets(pid)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: cannot inspect process %d (%s): %v\n", pid, name, err)
		return 1
	}
	socks, err := listTCP(pid, fds)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive status: %v\n", err)
		return 1
	}
	sort.Slice(socks, func(i, j int) bool { return socks[i].fd.Num < socks[j].fd.Num })
	notes := readOptions(pid, socks)
	if asJSON {
		return writeJSON(stdout, stderr, socketsReportOf(pid, command, socks, notes))
	}
	if len(socks) == 0 {
		fmt.Fprintf(stdout, "process %d (%s): no TCP sockets\n", pid, name)
		return 0
	}
	fmt.Fprintf(stdout, "process %d (%s): %d TCP socket(s)\n", pid, name, len(socks))
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FD\tSTATE\tLOCAL\tPEER\tKEEPALIVE\tIDLE\tINTVL\tCNT\tUSER-TIMEOUT\tTIMER")
	for _, s := range socks {
		ka, idle, intvl, cnt, ut := "?", "?", "?", "?", "?"
		if o := s.opts; o != nil {
			unit := func(v int, u string) string {
				if v < 0 {
					return "?"
				}
				return strconv.Itoa(v) + u
			}
			ka = map[bool]string{true: "on", false: "off"}[o.Keepalive != 0]
			idle, intvl, cnt, ut = unit(o.Idle, "s"), unit(o.Intvl, "s"), unit(o.Cnt, ""), unit(o.UserTimeout, "ms")
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.fd.Num, s.state, s.local, s.peer, ka, idle, intvl, cnt, ut, s.timer)
	}
	w.Flush()
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return 0
}

// listTCP reads, through sock_diag in the process's network namespace,
// the TCP sockets among the process's descriptors.
func listTCP(pid int, fds []procsock.FD) ([]sock, error) {
	ns, err := procsock.NetNS(pid)
	if err != nil {
		return nil, err
	}
	fd, err := procsock.Open(pid, ns)
	if err != nil {
		var nse *procsock.NamespaceError
		if errors.As(err, &nse) {
			return nil, fmt.Errorf("process %d is %w", pid, err)
		}
		return nil, err
	}
	defer unix.Close(fd)
	all, err := procsock.Dump(fd, procsock.AllStates)
	if err != nil {
		return nil, err
	}
	var socks []sock
	for _, f := range fds {
		if d, ok := all[f.Inode]; ok {
			socks = append(socks, sock{fd: f, state: procsock.StateName(d.State), local: procsock.Endpoint(d.Local),
				peer: procsock.Endpoint(d.Peer), timer: procsock.TimerText(d)})
		}
	}
	return socks, nil
}

// readOptions fills in each socket's options from a duplicate of its
// descriptor. It returns notes when some could not be read: refused (the
// right to trace the process is needed), or a descriptor closed or reused
// since it was listed, whose options are not the listed socket's.
func readOptions(pid int, socks []sock) []string {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		defer unix.Close(pidfd)
	}
	var refused error
	var changed []string
	for i := range socks {
		s := &socks[i]
		if err != nil {
			refused = err
			continue
		}
		o, rerr := procsock.Read(pidfd, s.fd)
		switch {
		case errors.Is(rerr, procsock.ErrChanged):
			changed = append(changed, strconv.Itoa(s.fd.Num))
		case rerr != nil:
			refused = rerr
		default:
			s.opts = &o
		}
	}
	var notes []string
	if len(changed) > 0 {
		notes = append(notes, fmt.Sprintf("(descriptor(s) %s closed or reused while being read: their settings are shown as ?)", strings.Join(changed, ", ")))
	}
	if refused != nil {
		notes = append(notes, fmt.Sprintf("(settings shown as ? could not be read: %v; they need the right to trace the process, as its user or root)", refused))
	}
	return notes
}
