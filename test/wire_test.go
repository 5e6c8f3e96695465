package test

// Dead peers on a real link: two network namespaces joined by a veth pair,
// real programs (python3's socket and socketserver modules, which never set
// keepalive), a peer that vanishes without FIN or RST (its link goes down),
// and the outcome read from the programs, ss and tcpdump. Every case has a
// run without the library. The namespaces are this test's own, with
// documentation addresses (192.0.2.0/24) that exist only inside them.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	clientAddr = "192.0.2.1"
	serverAddr = "192.0.2.2"
	wirePort   = "7000"
	// The dead-peer settings of the cases: found dead after 1 + 1 x 2 s.
	wireIdle, wireIntvl, wireCnt = 1, 1, 2
	// How long past that bound a detection may come, and how long a run
	// without detection is watched before the test stops it.
	wireMargin = 2 * time.Second
	wireWatch  = 7 * time.Second
	// A busy connection is ended by TCP_USER_TIMEOUT when a retransmission
	// timer fires past it; seen here: 3.0 to 4.5 s for 3 s.
	busyMargin = 3 * time.Second
)

var wireEnv = []string{fmt.Sprintf("KEEPIDLE=%d", wireIdle), fmt.Sprintf("KEEPINTVL=%d", wireIntvl), fmt.Sprintf("KEEPCNT=%d", wireCnt)}

var wireBound = time.Duration(wireIdle+wireIntvl*wireCnt)*time.Second + wireMargin

var clientPy = pyScript("wire_client.py")

var echoServerPy = pyScript("wire_echo_server.py")

var legacyServerPy = pyScript("wire_legacy_server.py")

// The socket-activation parent: makes the listener itself (it is not under
// the library), puts it at descriptor 3 and becomes the service, the way
// systemd hands over a socket.
var activatePy = pyScript("wire_activate.py")

var activatedPy = pyScript("wire_activated.py")

var plainClientPy = pyScript("wire_plain_client.py")

var netSeq atomic.Int32

// sweepNamespaces removes namespaces left by an earlier run of these tests
// that was killed before its cleanup ran (their owner process is gone).
func sweepNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		rest, ok := strings.CutPrefix(name, "ka-cli-")
		if !ok {
			rest, ok = strings.CutPrefix(name, "ka-srv-")
		}
		pid, _, _ := strings.Cut(rest, "-")
		if !ok || pid == strconv.Itoa(os.Getpid()) {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err != nil {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

// link is a pair of namespaces, cli and srv, joined by a veth pair.
type link struct {
	cli, srv     string // namespace names
	cliIf, srvIf string
	dir          string // scripts
	python       string
	cancelAll    context.CancelFunc
	ctx          context.Context
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLink(t *testing.T) *link {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the wire tests need root to create network namespaces")
	}
	need(t, "ip")
	n := netSeq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid(), n)
	l := &link{cli: "ka-cli-" + id, srv: "ka-srv-" + id, cliIf: fmt.Sprintf("kac%d", n), srvIf: fmt.Sprintf("kas%d", n),
		dir: t.TempDir(), python: python(t)}
	if out, err := exec.Command("ip", "netns", "add", l.cli).CombinedOutput(); err != nil {
		if _, serr := os.Stat("/proc/self/ns/net"); serr != nil {
			t.Skipf("SKIPPED LOUDLY: this kernel has no network namespaces (no /proc/self/ns/net): ip netns add: %v: %s", err, out)
		}
		t.Fatalf("ip netns add %s: %v: %s", l.cli, err, out)
	}
	l.ctx, l.cancelAll = context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(func() {
		l.cancelAll()
		exec.Command("ip", "netns", "del", l.cli).Run()
		exec.Command("ip", "netns", "del", l.srv).Run()
	})
	ipCmd(t, "netns", "add", l.srv)
	ipCmd(t, "link", "add", l.cliIf, "netns", l.cli, "type", "veth", "peer", "name", l.srvIf, "netns", l.srv)
	for _, side := range []struct{ ns, ifc, addr string }{{l.cli, l.cliIf, clientAddr}, {l.srv, l.srvIf, serverAddr}} {
		ipCmd(t, "-n", side.ns, "addr", "add", side.addr+"/24", "dev", side.ifc)
		ipCmd(t, "-n", side.ns, "link", "set", side.ifc, "up")
		ipCmd(t, "-n", side.ns, "link", "set", "lo", "up")
	}
	// Fixed neighbour entries: a vanished peer is then silence, not a
	// neighbour lookup that fails.
	for _, side := range []struct{ ns, ifc, peerNs, peerIf, peerAddr string }{
		{l.cli, l.cliIf, l.srv, l.srvIf, serverAddr}, {l.srv, l.srvIf, l.cli, l.cliIf, clientAddr}} {
		out, err := exec.Command("ip", "-n", side.peerNs, "-o", "link", "show", side.peerIf).Output()
		if err != nil {
			t.Fatal(err)
		}
		mac := regexp.MustCompile(`link/ether ([0-9a-f:]+)`).FindStringSubmatch(string(out))
		if mac == nil {
			t.Fatalf("no MAC address in %q", out)
		}
		ipCmd(t, "-n", side.ns, "neigh", "replace", side.peerAddr, "lladdr", mac[1], "dev", side.ifc, "nud", "permanent")
	}
	return l
}

// vanish takes a side's link down: from then on its peer hears nothing, no
// FIN, no RST.
func (l *link) vanish(t testing.TB, ns, ifc string) { ipCmd(t, "-n", ns, "link", "set", ifc, "down") }

// unaddress removes the server's address: its link stays up, so a capture on
// the client's side still sees what the client sends, but nothing answers
// (a host that is not a router drops packets for an address it lacks).
func (l *link) unaddress(t testing.TB) {
	ipCmd(t, "-n", l.srv, "addr", "del", serverAddr+"/24", "dev", l.srvIf)
}

// proc is a program started in a namespace, read line by line.
type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	errb  *strings.Builder
}

func (l *link) start(t testing.TB, ns string, preload bool, env []string, script string, args ...string) *proc {
	t.Helper()
	path := filepath.Join(l.dir, fmt.Sprintf("s%d.py", netSeq.Add(1)))
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	full := append(append([]string{"netns", "exec", ns, "env"}, env...), l.python, path)
	if preload {
		full = append(append([]string{"netns", "exec", ns, "env", "LD_PRELOAD=" + lib}, env...), l.python, path)
	}
	cmd := exec.CommandContext(l.ctx, "ip", append(full, args...)...)
	cmd.Env = baseEnv()
	return startProc(t, cmd)
}

// startProc starts cmd with its stdin a pipe, its stdout read line by line
// into p.lines and its stderr kept; the test's end kills it.
func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, lines: make(chan string, 16), errb: &strings.Builder{}}
	p.in, _ = cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { p.in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return p
}

// next waits up to d for the next line; "" if none came.
func (p *proc) next(d time.Duration) string {
	select {
	case l := <-p.lines:
		return l
	case <-time.After(d):
		return ""
	}
}

func (p *proc) expect(t testing.TB, prefix string) string {
	t.Helper()
	l := p.next(10 * time.Second)
	if !strings.HasPrefix(l, prefix) {
		t.Fatalf("waiting for %q, got %q; stderr: %s", prefix, l, p.errb.String())
	}
	return l
}

// outcome reads "error ERRNO after SECONDS" or "eof ..." within d.
type outcome struct {
	line    string
	errno   int
	seconds float64
}

func (p *proc) outcome(t testing.TB, d time.Duration) outcome {
	t.Helper()
	l := p.next(d)
	if l == "" {
		t.Logf("outcome: still waiting after %v", d)
	} else {
		t.Logf("outcome: %s", l)
	}
	o := outcome{line: l, errno: -1, seconds: math.Inf(1)}
	if m := regexp.MustCompile(`^error (\d+) after ([\d.]+)$`).FindStringSubmatch(l); m != nil {
		o.errno, _ = strconv.Atoi(m[1])
		o.seconds, _ = strconv.ParseFloat(m[2], 64)
	}
	return o
}

const etimedout = 110

// clientLosesServer connects a python3 client (in mode idle or busy) to an
// echo server on a fresh link, takes the server's link down, and returns
// what the client saw within wireWatch.
func clientLosesServer(t *testing.T, preload bool, env []string, mode string) outcome {
	t.Helper()
	l := newLink(t)
	srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
	srv.expect(t, "listening")
	cli := l.start(t, l.cli, preload, env, clientPy, mode, serverAddr, wirePort)
	cli.expect(t, "connected")
	l.vanish(t, l.srv, l.srvIf)
	fmt.Fprintln(cli.in, "go")
	return cli.outcome(t, wireWatch)
}

// 1. An idle client waiting for data from a peer that vanished.
func TestWireIdleClient(t *testing.T) {
	t.Parallel()
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			t.Parallel()
			o := clientLosesServer(t, preload, wireEnv, "idle")
			if preload {
				if o.errno != etimedout || o.seconds > wireBound.Seconds() {
					t.Errorf("want ETIMEDOUT within %v, got %q", wireBound, o.line)
				}
			} else if o.line != "" {
				t.Errorf("without the library the client should still be waiting after %v, got %q", wireWatch, o.line)
			}
		})
	}
}

// 2. A busy client: data sent after the peer vanished stays unacknowledged,
// keepalive never fires, only KEEPUSERTIMEOUT ends it.
func TestWireBusyClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		preload bool
		env     []string
		caught  bool
	}{
		{"no-library", false, nil, false},
		{"keepalive-only", true, wireEnv, false},
		{"user-timeout", true, append([]string{"KEEPUSERTIMEOUT=3"}, wireEnv...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := clientLosesServer(t, tc.preload, tc.env, "busy")
			if tc.caught {
				if o.errno != etimedout || o.seconds > (3*time.Second+busyMargin).Seconds() {
					t.Errorf("want ETIMEDOUT within 3 s + %v, got %q", busyMargin, o.line)
				}
			} else if o.line != "" {
				t.Errorf("want the client still waiting after %v, got %q", wireWatch, o.line)
			}
		})
	}
}

// ssEstablished lists the established TCP connections of a namespace, with
// timers.
func ssEstablished(t testing.TB, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-tnoH", "state", "established").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	return string(out)
}

// 3. A legacy server (python3 socketserver) whose client vanished.
func TestWireLegacyServer(t *testing.T) {
	t.Parallel()
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			t.Parallel()
			l := newLink(t)
			srv := l.start(t, l.srv, preload, wireEnv, legacyServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			cli := l.start(t, l.cli, false, nil, clientPy, "idle", serverAddr, wirePort)
			cli.expect(t, "connected")
			srv.expect(t, "accepted")
			if ss := ssEstablished(t, l.srv); !strings.Contains(ss, serverAddr+":"+wirePort) {
				t.Fatalf("ss does not show the connection before the client vanished: %q", ss)
			}
			l.vanish(t, l.cli, l.cliIf)
			o := srv.outcome(t, wireWatch)
			ss := ssEstablished(t, l.srv)
			if preload {
				if o.errno != etimedout || o.seconds > wireBound.Seconds() {
					t.Errorf("want the server's recv to fail with ETIMEDOUT within %v, got %q", wireBound, o.line)
				}
				if ss != "" {
					t.Errorf("ss still shows the connection: %q", ss)
				}
			} else {
				if o.line != "" {
					t.Errorf("without the library the server should still be waiting, got %q", o.line)
				}
				if !strings.Contains(ss, serverAddr+":"+wirePort) {
					t.Errorf("without the library ss should still show the connection, got %q", ss)
				}
			}
		})
	}
}

// 4. A listener handed over the way systemd socket activation does it: made
// by a parent outside the library, passed as descriptor 3.
func TestWireHandedOverListener(t *testing.T) {
	t.Parallel()
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			t.Parallel()
			l := newLink(t)
			service := filepath.Join(l.dir, "service.py")
			if err := os.WriteFile(service, []byte(activatedPy), 0o644); err != nil {
				t.Fatal(err)
			}
			preloadLib := ""
			if preload {
				preloadLib = lib
			}
			srv := l.start(t, l.srv, false, wireEnv, activatePy, serverAddr, wirePort, preloadLib, service)
			if got := srv.expect(t, "listening"); got != "listening listener_ka=0" {
				t.Fatalf("the handed-over listener should come unconfigured: %q", got)
			}
			cli := l.start(t, l.cli, false, nil, plainClientPy, serverAddr, wirePort)
			cli.expect(t, "connected")
			got := line(srv.expect(t, "accepted"), "accepted")
			ss := ssEstablished(t, l.srv)
			hasTimer := strings.Contains(ss, "timer:(keepalive,")
			if preload {
				if got["ka"] != "1" || got["idle"] != strconv.Itoa(wireIdle) || got["intvl"] != strconv.Itoa(wireIntvl) || got["cnt"] != strconv.Itoa(wireCnt) {
					t.Errorf("accepted connection: %v", got)
				}
				if !hasTimer {
					t.Errorf("ss -o shows no keepalive timer: %q", ss)
				}
			} else if got["ka"] != "0" || hasTimer {
				t.Errorf("without the library: %v, ss %q", got, ss)
			}
		})
	}
}

// 5. The probes on the wire: the first KEEPIDLE after the last packet from
// the peer, the next ones KEEPINTVL apart, each within probeTolerance.
func TestWireProbes(t *testing.T) {
	t.Parallel()
	need(t, "tcpdump")
	const idle, intvl, cnt = 2, 1, 3
	const probeTolerance = 0.3 // seconds; the kernel's timer wheel rounds a 2 s timer by tens of ms
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			t.Parallel()
			l := newLink(t)
			ctx, stop := context.WithCancel(l.ctx)
			defer stop()
			dump := exec.CommandContext(ctx, "ip", "netns", "exec", l.cli, "tcpdump", "-i", l.cliIf, "-n", "-tt", "-l", "-U", "tcp port "+wirePort)
			dump.Cancel = func() error { return dump.Process.Signal(os.Interrupt) }
			var capture strings.Builder
			dump.Stdout = &capture
			dumpErr, _ := dump.StderrPipe()
			if err := dump.Start(); err != nil {
				t.Fatal(err)
			}
			started := false
			for s := bufio.NewScanner(dumpErr); !started && s.Scan(); {
				started = strings.Contains(s.Text(), "listening on")
			}
			if !started {
				t.Fatal("tcpdump did not start")
			}
			go io.Copy(io.Discard, dumpErr)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			env := []string{fmt.Sprintf("KEEPIDLE=%d", idle), fmt.Sprintf("KEEPINTVL=%d", intvl), fmt.Sprintf("KEEPCNT=%d", cnt)}
			cli := l.start(t, l.cli, preload, env, clientPy, "idle", serverAddr, wirePort)
			cli.expect(t, "connected")
			l.unaddress(t)
			fmt.Fprintln(cli.in, "go")
			o := cli.outcome(t, time.Duration(idle+intvl*cnt)*time.Second+wireMargin)
			time.Sleep(200 * time.Millisecond)
			stop()
			dump.Wait()
			last, probes := parseProbes(capture.String())
			t.Logf("capture:\n%s", capture.String())
			if last == 0 {
				t.Fatalf("no packet from the server captured; the case proves nothing")
			}
			if !preload {
				if len(probes) != 0 || o.line != "" {
					t.Errorf("without the library: %d probes, outcome %q; want none", len(probes), o.line)
				}
				return
			}
			if len(probes) < cnt {
				t.Fatalf("%d probes after the last packet from the peer, want %d", len(probes), cnt)
			}
			want := last + idle
			for i, p := range probes[:cnt] {
				if math.Abs(p-want) > probeTolerance {
					t.Errorf("probe %d at +%.3f s after the peer's last packet, want +%.3f s (±%.1f)", i+1, p-last, want-last, probeTolerance)
				}
				want = p + intvl
			}
			if o.errno != etimedout {
				t.Errorf("the client should end with ETIMEDOUT after the probes, got %q", o.line)
			}
		})
	}
}

// parseProbes returns the time of the last packet from the server and of the
// client's empty segments more than half a second after it (a delayed ACK of
// the server's data may come within tens of milliseconds); once the peer is
// gone, those are keepalive probes.
func parseProbes(capture string) (last float64, probes []float64) {
	re := regexp.MustCompile(`^(\d+\.\d+) IP (\S+) > (\S+): Flags \[([^\]]*)\].* length 0`)
	anyRe := regexp.MustCompile(`^(\d+\.\d+) IP ` + regexp.QuoteMeta(serverAddr+"."+wirePort) + ` >`)
	for _, l := range strings.Split(capture, "\n") {
		if m := anyRe.FindStringSubmatch(l); m != nil {
			last, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	for _, l := range strings.Split(capture, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil || !strings.HasPrefix(m[2], clientAddr+".") || m[4] != "." {
			continue
		}
		ts, _ := strconv.ParseFloat(m[1], 64)
		if ts > last+0.5 {
			probes = append(probes, ts)
		}
	}
	return last, probes
}
