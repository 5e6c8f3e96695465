package test

// Rules by destination (to NETWORK [port P] KEY=VALUE... in the
// configuration file) under the library: each connection gets the first
// rule that matches its far end and service port, read back from the kernel
// next to a run without the library; a vanished peer on the rule's network
// is found in the rule's time while one on another network is not.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalive.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The rules of the loopback cases, for the library and the cgroup mode.
const destLoopbackConf = `KEEPIDLE=600
KEEPCNT=4
to 127.0.0.2 port 47301 KEEPIDLE=11
to 127.0.0.2 KEEPIDLE=22 KEEPCNT=2
to 127.0.0.0/8 port 47303 KEEPALIVE=off
to ::1 KEEPIDLE=33
to any port 47305 KEEPIDLE=44
`

// destLoopbackCases are dest_probe.py's arguments and what each end gets
// ("": left alone).
var destLoopbackCases = []struct{ arg, client, accepted string }{
	{"127.0.0.2,47301,127.0.0.9", "ka=1 idle=11 cnt=4", destDefault},               // a port rule; the server's end: no rule
	{"127.0.0.2,47302,127.0.0.9", "ka=1 idle=22 cnt=2", destDefault},               // the next rule for another port
	{"127.0.0.3,47303,127.0.0.2", "", "ka=1 idle=22 cnt=2"},                        // KEEPALIVE=off; the server's end: the earlier rule wins
	{"::1,47304,::1", "ka=1 idle=33 cnt=4", "ka=1 idle=33 cnt=4"},                  // IPv6
	{"127.0.0.4,47305,127.0.0.5", "ka=1 idle=44 cnt=4", "ka=1 idle=44 cnt=4"},      // the server's own port picks the rule
	{"127.0.0.6,47306,127.0.0.7", destDefault, destDefault},                        // no rule: the default
	{"::ffff:127.0.0.2,47307,::ffff:127.0.0.9", "ka=1 idle=22 cnt=2", destDefault}, // an IPv6 socket's IPv4 peer: IPv4 rules
}

const destDefault = "ka=1 idle=600 cnt=4"

// destProbeLine is dest_probe.py's line for a case.
var destProbeLine = regexp.MustCompile(`^(\S+) client (ka=\d+ idle=\d+ cnt=\d+) accepted (ka=\d+ idle=\d+ cnt=\d+)$`)

// checkDestLoopback holds the ends the control (the program alone) and
// the run under test (the library, the cgroup mode) printed to the cases.
func checkDestLoopback(t *testing.T, control, with string) {
	t.Helper()
	parse := func(out string) map[string][2]string {
		m := map[string][2]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if g := destProbeLine.FindStringSubmatch(l); g != nil {
				m[g[1]] = [2]string{g[2], g[3]}
			}
		}
		return m
	}
	cm, wm := parse(control), parse(with)
	for _, c := range destLoopbackCases {
		kernel := cm[c.arg]
		if !strings.HasPrefix(kernel[0], "ka=0 ") || kernel[0] != kernel[1] {
			t.Errorf("%s without keepalive's help: %q, want keepalive off on both ends", c.arg, kernel)
			continue
		}
		want := [2]string{c.client, c.accepted}
		for i := range want {
			if want[i] == "" {
				want[i] = kernel[i] // left alone
			}
		}
		if wm[c.arg] != want {
			t.Errorf("%s: client %q accepted %q, want %q %q", c.arg, wm[c.arg][0], wm[c.arg][1], want[0], want[1])
		}
	}
}

func destProbeArgs(t *testing.T) []string {
	args := []string{python(t), "-c", pyScript("dest_probe.py")}
	for _, c := range destLoopbackCases {
		args = append(args, c.arg)
	}
	return args
}

// One process, a listener and a client per case on loopback addresses
// (all of 127.0.0.0/8 and ::1 are this host's): the client's end is ruled
// by the listener's address and port, the accepted end by the client's
// address and the listener's port.
func TestDestLoopback(t *testing.T) {
	conf := writeConf(t, destLoopbackConf)
	args := destProbeArgs(t)
	control := run{args: args, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
	with := run{preload: true, args: args, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
	if control.status.ExitStatus() != 0 || with.status.ExitStatus() != 0 || with.stderr != "" {
		t.Fatalf("control:\n%s\nwith the library:\n%s", control, with)
	}
	checkDestLoopback(t, control.stdout, with.stdout)
}

// A bad rule is said once, with its file and line, and only it is left
// out: the rules around it and the default still apply, and the program
// runs as it would.
func TestDestBadRule(t *testing.T) {
	conf := writeConf(t, "KEEPIDLE=600\nto 127.0.0.2 KEEPIDLE=22\nto 127.0.0.0/33 KEEPIDLE=5\nto 127.0.0.3 port 0 KEEPIDLE=5\nto 127.0.0.3 KEEPIDLE=33\n")
	args := []string{python(t), "-c", pyScript("dest_probe.py"), "127.0.0.2,47311,127.0.0.1", "127.0.0.3,47312,127.0.0.1", "127.0.0.4,47313,127.0.0.1"}
	r := run{preload: true, args: args, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
	if r.status.ExitStatus() != 0 {
		t.Fatal(r)
	}
	want := []string{
		fmt.Sprintf(`libkeepalive: %s:3 NETWORK "127.0.0.0/33" is not a network:`, conf),
		fmt.Sprintf(`libkeepalive: %s:4 port "0" is not a port:`, conf),
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr %q, want %d lines", r.stderr, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) || !strings.HasSuffix(lines[i], "; rule ignored") {
			t.Errorf("line %d: %q, want %q...; rule ignored", i+1, lines[i], want[i])
		}
	}
	for _, w := range []string{"127.0.0.2,47311,127.0.0.1 client ka=1 idle=22", "127.0.0.3,47312,127.0.0.1 client ka=1 idle=33",
		"127.0.0.4,47313,127.0.0.1 client ka=1 idle=600"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout %q lacks %q", r.stdout, w)
		}
	}
	out, _ := exec.Command(command, "check", "--config", conf).CombinedOutput()
	for _, w := range want {
		if !strings.Contains(string(out), strings.TrimPrefix(w, "libkeepalive: ")) {
			t.Errorf("keepalive check --config does not say %q:\n%s", w, out)
		}
	}
}

// connect() keeps its contract under rules: the same return values and
// errno in every case, a bad address pointer is the kernel's EFAULT, UDP
// and UNIX sockets are untouched; only the TCP connections get the rule.
func TestDestConnectContract(t *testing.T) {
	conf := writeConf(t, "to 127.0.0.0/8 KEEPIDLE=77\n")
	control := run{args: []string{"connects"}, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
	with := run{preload: true, args: []string{"connects"}, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
	if control.status.ExitStatus() != 0 || with.status.ExitStatus() != 0 || with.stderr != "" {
		t.Fatalf("control:\n%s\nwith the library:\n%s", control, with)
	}
	opts := regexp.MustCompile(` ka=.*$`)
	cl, wl := strings.Split(control.stdout, "\n"), strings.Split(with.stdout, "\n")
	if len(cl) != len(wl) || len(cl) < 10 {
		t.Fatalf("control:\n%s\nwith the library:\n%s", control.stdout, with.stdout)
	}
	for i := range cl {
		if opts.ReplaceAllString(cl[i], "") != opts.ReplaceAllString(wl[i], "") {
			t.Errorf("line %d: %q without the library, %q with it", i+1, cl[i], wl[i])
		}
		name, _, _ := strings.Cut(wl[i], " ")
		switch name {
		case "loopback", "nonblock":
			if !strings.Contains(wl[i], "ka=1 idle=77") {
				t.Errorf("%q: want the rule's keepalive", wl[i])
			}
		case "refused", "udp":
			if !strings.Contains(wl[i], "ka=0") {
				t.Errorf("%q: want it untouched", wl[i])
			}
		}
	}
}

// addNet puts a second pair of addresses on the link (IPv4 or IPv6, with
// fixed neighbour entries as newLink makes them): another network path
// between the same two hosts.
func (l *link) addNet(t *testing.T, cli, srv string, bits int) {
	t.Helper()
	six := strings.Contains(cli, ":")
	for _, side := range []struct{ ns, ifc, addr, peerNs, peerIf, peerAddr string }{
		{l.cli, l.cliIf, cli, l.srv, l.srvIf, srv}, {l.srv, l.srvIf, srv, l.cli, l.cliIf, cli}} {
		args := []string{"-n", side.ns, "addr", "add", fmt.Sprintf("%s/%d", side.addr, bits), "dev", side.ifc}
		if six {
			args = append(args, "nodad") // usable at once, not tentative
		}
		ipCmd(t, args...)
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
}

// The wire cases' networks between newLink's two hosts: newLink's own
// (192.0.2.0/24) and an IPv6 one, which the rules name (a NAT's, which
// forgets idle connections), and another, which they do not.
const (
	destOther, destOtherCli = "198.51.100.2", "198.51.100.1"
	destSix, destSixCli     = "fd00:db8:1::2", "fd00:db8:1::1"
)

// destWireConf is the wire cases' file: the dead-peer settings for the
// rule's networks, the kernel's keepalive timers for the rest.
var destWireConf = func() string {
	timers := fmt.Sprintf("KEEPIDLE=%d KEEPINTVL=%d KEEPCNT=%d", wireIdle, wireIntvl, wireCnt)
	return fmt.Sprintf("to 192.0.2.0/24 %s\nto fd00:db8:1::/64 %s\n", timers, timers)
}()

// newDestLink is newLink with the other two networks on its link.
func newDestLink(t *testing.T) *link {
	t.Helper()
	l := newLink(t)
	l.addNet(t, destOtherCli, destOther, 24)
	l.addNet(t, destSixCli, destSix, 64)
	return l
}

// wireClient is one client of a wire case: the server address it dials,
// whether it must find the vanished peer (ETIMEDOUT within wireBound) or
// still be waiting after wireWatch, and how it is started in l.cli (idle,
// printing "connected" then, on a line on stdin, how its read ended).
type wireClient struct {
	name, addr string
	found      bool
	start      func(addr, port string) *proc
}

// peerVanishes starts an echo server in l.srv for each client (on ports
// from firstPort up) and the client, takes the server's link down, watches
// every client at once and holds each outcome to what it wants. It returns
// each client's "connected" line.
func (l *link) peerVanishes(t *testing.T, firstPort int, clients []wireClient) []string {
	t.Helper()
	procs := make([]*proc, len(clients))
	conns := make([]string, len(clients))
	for i, c := range clients {
		port := fmt.Sprint(firstPort + i)
		srv := l.start(t, l.srv, false, nil, echoServerPy, c.addr, port)
		srv.expect(t, "listening")
		procs[i] = c.start(c.addr, port)
		conns[i] = procs[i].expect(t, "connected")
	}
	t.Logf("client namespace before the peer vanishes:\n%s", ssEstablished(t, l.cli))
	l.vanish(t, l.srv, l.srvIf)
	for _, p := range procs {
		fmt.Fprintln(p.in, "go")
	}
	outcomes := make([]chan outcome, len(procs))
	for i, p := range procs {
		outcomes[i] = make(chan outcome, 1)
		go func() { outcomes[i] <- p.outcome(t, wireWatch) }()
	}
	for i, c := range clients {
		o := <-outcomes[i]
		if c.found && (o.errno != etimedout || o.seconds > wireBound.Seconds()) {
			t.Errorf("%s: want ETIMEDOUT within %v, got %q; stderr: %s", c.name, wireBound, o.line, procs[i].errb)
		}
		if !c.found && o.line != "" {
			t.Errorf("%s: want it still waiting after %v, got %q", c.name, wireWatch, o.line)
		}
	}
	return conns
}

// A host with two network paths to its peer: the rule's network (a NAT's,
// which forgets idle connections) gets the short keepalive, the other the
// kernel's. When the peer vanishes, the clients to the rule's networks
// (IPv4 and IPv6) end with ETIMEDOUT in the rule's time; the client to the
// other network, and the control client to the rule's network without the
// library, still wait.
func TestDestWire(t *testing.T) {
	t.Parallel()
	l := newDestLink(t)
	env := []string{"KEEPALIVE_CONFIG=" + writeConf(t, destWireConf)}
	client := func(preload bool) func(addr, port string) *proc {
		return func(addr, port string) *proc { return l.start(t, l.cli, preload, env, clientPy, "idle", addr, port) }
	}
	l.peerVanishes(t, 7100, []wireClient{
		{"rule-ipv4", serverAddr, true, client(true)},
		{"rule-ipv6", destSix, true, client(true)},
		{"other-network", destOther, false, client(true)},
		{"control", serverAddr, false, client(false)},
	})
}

// keepalive check lists the rules and, for --to, names the rule a
// connection there gets; what it says is what the library then does.
func TestDestCheck(t *testing.T) {
	conf := writeConf(t, "KEEPIDLE=600\nto 127.0.0.2 port 47321 KEEPIDLE=11\nto 127.0.0.0/8 port 47322 KEEPALIVE=off\nto ::1 KEEPIDLE=33\n")
	out, err := exec.Command(command, "check", "--config", conf, "--lib", lib).CombinedOutput()
	for _, w := range []string{`:2\s+to 127\.0\.0\.2/32 port 47321 KEEPIDLE=11\s+SO_KEEPALIVE on KEEPIDLE=11s`,
		`:3\s+to 127\.0\.0\.0/8 port 47322 KEEPALIVE=off\s+left alone`, `:4\s+to ::1/128 KEEPIDLE=33\s+SO_KEEPALIVE on KEEPIDLE=33s`} {
		if err != nil || !regexp.MustCompile(w).Match(out) {
			t.Errorf("check (%v) does not list %q:\n%s", err, w, out)
		}
	}
	for _, tc := range []struct{ to, says, probe, kernel string }{
		{"127.0.0.2:47321", "gets the rule of line 2 (to 127.0.0.2/32 port 47321 KEEPIDLE=11): SO_KEEPALIVE on KEEPIDLE=11s", "127.0.0.2,47321,127.0.0.1", "client ka=1 idle=11"},
		{"127.0.0.5:47322", "gets the rule of line 3 (to 127.0.0.0/8 port 47322 KEEPALIVE=off): it is left alone", "127.0.0.5,47322,127.0.0.1", "client ka=0"},
		{"[::1]:47323", "gets the rule of line 4 (to ::1/128 KEEPIDLE=33)", "::1,47323,::1", "client ka=1 idle=33"},
		{"127.0.0.2:47324", "matches no rule: it gets SO_KEEPALIVE on KEEPIDLE=600s", "127.0.0.2,47324,127.0.0.1", "client ka=1 idle=600"},
	} {
		out, err := exec.Command(command, "check", "--config", conf, "--lib", lib, "--to", tc.to).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "a connection to "+tc.to+" "+tc.says) {
			t.Errorf("check --to %s (%v):\n%s\nwant %q", tc.to, err, out, tc.says)
		}
		r := run{preload: true, args: []string{python(t), "-c", pyScript("dest_probe.py"), tc.probe}, env: []string{"KEEPALIVE_CONFIG=" + conf}}.exec(t)
		if !strings.Contains(r.stdout, tc.probe+" "+tc.kernel) {
			t.Errorf("%s under the library: %q, want %q as check says", tc.probe, r.stdout, tc.kernel)
		}
	}
	// What the cgroup mode would do with the file: its rules first.
	if !strings.Contains(string(out), "cgroup mode: keepalive cgroup attach --config "+conf+" would apply its 3 rule(s) by destination first, else idle 600s") {
		t.Errorf("check: the cgroup mode's line does not name the rules:\n%s", out)
	}
	// KEEPALIVE=off in the environment: the library touches no socket,
	// and check says so of each rule; the library then leaves the ruled
	// connection alone (the control of the line above).
	off := exec.Command(command, "check", "--config", conf, "--lib", lib)
	off.Env = append(os.Environ(), "KEEPALIVE=off")
	offOut, _ := off.CombinedOutput()
	if !regexp.MustCompile(`:2\s+to 127\.0\.0\.2/32 port 47321 KEEPIDLE=11\s+left alone: KEEPALIVE is off`).Match(offOut) {
		t.Errorf("check with KEEPALIVE=off: the rules should say they leave connections alone:\n%s", offOut)
	}
	r := run{preload: true, args: []string{python(t), "-c", pyScript("dest_probe.py"), "127.0.0.2,47321,127.0.0.1"},
		env: []string{"KEEPALIVE_CONFIG=" + conf, "KEEPALIVE=off"}}.exec(t)
	if !strings.Contains(r.stdout, "client ka=0") {
		t.Errorf("KEEPALIVE=off under the library: %q, want the ruled connection left alone", r.stdout)
	}
	for _, bad := range []string{"127.0.0.1", "127.0.0.1:0", "host:80", "[fe80::1%eth0]:80"} {
		out, err := exec.Command(command, "check", "--config", conf, "--to", bad).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "is not an address and port") {
			t.Errorf("check --to %s: %v\n%s", bad, err, out)
		}
	}
}

// A program's own options, set between socket() and connect(), keep the
// last word under rules as they do without (where the library configures
// at socket(), before them): the rule gives what the program did not set.
// The control is the program alone; the comparison, the same settings as
// plain lines, without rules.
func TestDestProgramsOwnOptions(t *testing.T) {
	args := []string{python(t), "-c", pyScript("dest_ownopts.py"), "127.0.0.2", "47331"}
	get := func(preload bool, conf string) (conn, after string) {
		r := run{preload: preload, args: args, env: []string{"KEEPALIVE_CONFIG=" + writeConf(t, conf)}}.exec(t)
		if r.status.ExitStatus() != 0 || r.stderr != "" {
			t.Fatalf("dest_ownopts.py: %s", r)
		}
		return rawLine(r.stdout, "conn"), rawLine(r.stdout, "after")
	}
	if control, _ := get(false, ""); !strings.HasPrefix(control, "conn ka=0 idle=5 ") || !strings.HasSuffix(control, " ut=1234") {
		t.Fatalf("control, the program alone: %q, want its own idle=5 ut=1234 and keepalive off", control)
	}
	plain, plainAfter := get(true, "KEEPIDLE=60\nKEEPCNT=2\nKEEPUSERTIMEOUT=9\n")
	ruled, ruledAfter := get(true, "KEEPIDLE=600\nto 127.0.0.2 KEEPIDLE=60 KEEPCNT=2 KEEPUSERTIMEOUT=9\n")
	if want := "conn ka=1 idle=5 cnt=2 ut=1234"; plain != want || ruled != want {
		t.Errorf("without rules %q, with a rule %q: want both %q (the program's idle and user timeout, the rest the library's)", plain, ruled, want)
	}
	if want := "after ka=1 idle=5 cnt=7 ut=1234"; plainAfter != want || ruledAfter != want {
		t.Errorf("the program's KEEPCNT after connect: without rules %q, with a rule %q: want both %q", plainAfter, ruledAfter, want)
	}
	// KEEPALIVE=force keeps what the library set, the rule's options
	// included where the default sets none (KEEPCNT here).
	forced, forcedAfter := get(true, "KEEPALIVE=force\nKEEPIDLE=600\nto 127.0.0.2 KEEPIDLE=60 KEEPCNT=2 KEEPUSERTIMEOUT=9\n")
	if want := "conn ka=1 idle=60 cnt=2 ut=9000"; forced != want {
		t.Errorf("KEEPALIVE=force with a rule: %q, want the rule's %q over the program's", forced, want)
	}
	if want := "after ka=1 idle=60 cnt=2 ut=9000"; forcedAfter != want {
		t.Errorf("KEEPALIVE=force with a rule, the program's KEEPCNT after connect: %q, want the rule's kept: %q", forcedAfter, want)
	}
}
