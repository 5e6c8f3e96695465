package test

// keepalive apply: running processes' existing connections, cured without
// a restart. Each case reads the result back from the kernel (the
// processes' own getsockopt, ss's timers, the wire) beside a control that
// was not applied to.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var applyPairPy = pyScript("apply_pair.py")

// applyJSON is the part of keepalive apply --json the tests read.
type applyJSON struct {
	Processes []struct {
		PID       int     `json:"pid"`
		Changed   *int    `json:"changed"`
		Listeners *int    `json:"listeners"`
		LeftAlone *int    `json:"left_alone"`
		Failed    *int    `json:"failed"`
		Error     *string `json:"error"`
	} `json:"processes"`
}

func applyCmd(t *testing.T, args ...string) (result, applyJSON) {
	t.Helper()
	r := run{args: append([]string{command, "apply", "--json"}, args...)}.exec(t)
	var j applyJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("keepalive apply --json: %v\n%s", err, r)
	}
	return r, j
}

// pythonPair is a server and a client process holding n connections.
type pythonPair struct {
	server, client *proc
}

func startPythonPair(t *testing.T, py string, n int) pythonPair {
	t.Helper()
	srv := startProc(t, exec.Command(py, "-c", applyPairPy, "server", "127.0.0.1"))
	port := strings.TrimPrefix(srv.expect(t, "listening "), "listening ")
	cli := startProc(t, exec.Command(py, "-c", applyPairPy, "client", "127.0.0.1", port, strconv.Itoa(n)))
	cli.expect(t, "ready")
	return pythonPair{srv, cli}
}

var checkRe = regexp.MustCompile(`^conn (\d+) client (ka=\d+ idle=\d+ intvl=\d+ cnt=\d+) server (\S+)$`)

// check has the client send on every connection and returns each
// connection's two ends' options, as the processes read them themselves.
func (p pythonPair) check(t *testing.T, cmd string) (client, server []string) {
	t.Helper()
	fmt.Fprintln(p.client.in, cmd)
	for {
		l := p.client.next(10 * time.Second)
		if l == "done" {
			return client, server
		}
		m := checkRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("client: %q (the connection did not answer?); stderr: %s", l, p.client.errb)
		}
		client, server = append(client, m[2]), append(server, strings.ReplaceAll(m[3], ",", " "))
	}
}

func atRisk(t *testing.T, pid int) int {
	t.Helper()
	r := run{args: []string{command, "status", "--json"}}.exec(t)
	var h struct {
		Processes []struct{ PID, AtRisk int } `json:"processes"`
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(r.stdout, `"at_risk"`, `"AtRisk"`)), &h); err != nil {
		t.Fatal(err)
	}
	for _, p := range h.Processes {
		if p.PID == pid {
			return p.AtRisk
		}
	}
	return 0
}

func wantAll(t *testing.T, what string, got []string, n int, want string) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d connections answered, want %d: %v", what, len(got), n, got)
	}
	for i, g := range got {
		if g != want {
			t.Errorf("%s, connection %d: %s, want %s", what, i, g, want)
		}
	}
}

// A python3 server and client with three connections and no keepalive: at
// risk before, configured after, and the bytes still flow; the listener's
// new connections inherit the settings. The control pair, not applied to,
// keeps keepalive off throughout.
func TestApplyPython(t *testing.T) {
	py := python(t)
	const n = 3
	const want = "ka=1 idle=61 intvl=7 cnt=4"
	// The kernel's defaults, which a socket without keepalive reports.
	off := fmt.Sprintf("ka=0 idle=%s intvl=%s cnt=%s", sysctl(t, "tcp_keepalive_time"), sysctl(t, "tcp_keepalive_intvl"),
		sysctl(t, "tcp_keepalive_probes"))
	cured, control := startPythonPair(t, py, n), startPythonPair(t, py, n)
	srvPID, cliPID := cured.server.cmd.Process.Pid, cured.client.cmd.Process.Pid
	for _, pid := range []int{srvPID, cliPID, control.server.cmd.Process.Pid} {
		if r := atRisk(t, pid); r != n {
			t.Fatalf("before: process %d has %d connection(s) AT-RISK, want %d: the case proves nothing", pid, r, n)
		}
	}
	c, s := control.check(t, "check")
	wantAll(t, "control client", c, n, off)
	wantAll(t, "control server", s, n, off)
	r, j := applyCmd(t, "--idle", "61", "--interval", "7", "--count", "4", strconv.Itoa(srvPID), strconv.Itoa(cliPID))
	if r.status != 0 || len(j.Processes) != 2 {
		t.Fatalf("apply: %s", r)
	}
	for i, w := range []struct{ changed, listeners int }{{n, 1}, {n, 0}} {
		p := j.Processes[i]
		if p.Changed == nil || *p.Changed != w.changed || *p.Listeners != w.listeners || *p.Failed != 0 {
			t.Errorf("apply --json, process %d: changed %v listeners %v failed %v, want %d, %d, 0", p.PID, p.Changed, p.Listeners, p.Failed,
				w.changed, w.listeners)
		}
	}
	c, s = cured.check(t, "check")
	wantAll(t, "client", c, n, want)
	wantAll(t, "server", s, n, want)
	for _, pid := range []int{srvPID, cliPID} {
		if r := atRisk(t, pid); r != 0 {
			t.Errorf("after: keepalive status shows process %d with AT-RISK:%d", pid, r)
		}
	}
	if r := atRisk(t, control.server.cmd.Process.Pid); r != n {
		t.Errorf("control: AT-RISK:%d after the apply, want %d", r, n)
	}
	// A connection accepted from the listener after the apply: the server's
	// end inherits the settings; the client's new end is its own, not
	// applied to.
	c, s = cured.check(t, "new")
	if len(c) != 1 || s[0] != want || !strings.HasPrefix(c[0], "ka=0 ") {
		t.Errorf("new connection: client %v server %v, want the server's end %s and the client's off", c, s, want)
	}
	c, s = control.check(t, "new")
	if len(s) != 1 || !strings.HasPrefix(s[0], "ka=0 ") {
		t.Errorf("control: a new connection's server end is %v, want keepalive off", s)
	}
	// Applied again, the connections now have keepalive (the apply's own)
	// and are left alone; --force changes them.
	r, j = applyCmd(t, "--idle", "90", strconv.Itoa(srvPID))
	if p := j.Processes[0]; r.status != 0 || *p.LeftAlone != n+2 || *p.Changed != 0 {
		t.Errorf("apply again without --force: %s", r)
	}
	r, j = applyCmd(t, "--idle", "90", "--force", strconv.Itoa(srvPID))
	if p := j.Processes[0]; r.status != 0 || *p.Changed != n+1 || *p.Listeners != 1 {
		t.Errorf("apply --force: %s", r)
	}
	_, s = cured.check(t, "check")
	wantAll(t, "server after --force", s, n+1, "ka=1 idle=90 intvl=7 cnt=4")
}

// keepaliveTimer is the keepalive timer ss shows on the connection from
// local, in seconds; -1 when none.
func keepaliveTimer(t *testing.T, local string) int {
	t.Helper()
	out, err := exec.Command("ss", "-tnoH", "state", "established", "src", local).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?(m?s)`).FindStringSubmatch(string(out))
	if m == nil {
		return -1
	}
	min, _ := strconv.Atoi(m[1])
	v, _ := strconv.Atoi(m[2])
	if m[3] == "ms" {
		v = 0
	}
	return min*60 + v
}

// A static Go program's own 15 s keepalive (Go's default) is left alone
// without --force and replaced with it; its timer, as ss reads it from the
// kernel, tells which.
func TestApplyGoOwnKeepalive(t *testing.T) {
	buildProbes(t)
	need(t, "ss")
	addr := echoListener(t)
	p := startProc(t, exec.Command(probeGoBin, "wire", addr, "-go"))
	if l := p.expect(t, "connected"); !strings.Contains(l, "ka=1 idle=15 intvl=15") {
		t.Fatalf("control: Go's own keepalive is not on: %q", l)
	}
	pid := strconv.Itoa(p.cmd.Process.Pid)
	local := ownLocal(t, p.cmd.Process.Pid)
	if tm := keepaliveTimer(t, local); tm < 0 || tm > 15 {
		t.Fatalf("before: keepalive timer %d s, want Go's 15 s or less", tm)
	}
	r, j := applyCmd(t, "--idle", "300", pid)
	if r.status != 0 || *j.Processes[0].LeftAlone != 1 || *j.Processes[0].Changed != 0 {
		t.Errorf("without --force: %s", r)
	}
	if tm := keepaliveTimer(t, local); tm < 0 || tm > 15 {
		t.Errorf("without --force: keepalive timer %d s, want Go's own 15 s or less", tm)
	}
	r, j = applyCmd(t, "--idle", "300", "--force", pid)
	if r.status != 0 || *j.Processes[0].Changed != 1 {
		t.Errorf("with --force: %s", r)
	}
	if tm := keepaliveTimer(t, local); tm < 200 || tm > 300 {
		t.Errorf("with --force: keepalive timer %d s, want about 300 s", tm)
	}
}

// echoListener answers each connection's first six bytes (the probe's
// hello) and then holds it until the test ends.
func echoListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go func() {
				b := make([]byte, 6)
				if _, err := io.ReadFull(c, b); err == nil {
					c.Write(b)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// ownLocal is the local address of pid's one established connection.
func ownLocal(t *testing.T, pid int) string {
	t.Helper()
	out, err := exec.Command("ss", "-tnpH", "state", "established").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && strings.Contains(l, "pid="+strconv.Itoa(pid)+",") {
			return f[2]
		}
	}
	t.Fatalf("ss shows no connection of process %d:\n%s", pid, out)
	return ""
}

// A peer that vanishes after the apply: the idle client's blocked recv()
// ends with ETIMEDOUT in the time the settings give, in its own network
// namespace; the control client, not applied to, still waits.
func TestApplyDeadPeer(t *testing.T) {
	t.Parallel()
	for _, applied := range []bool{true, false} {
		name := map[bool]string{true: "applied", false: "control"}[applied]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := newLink(t)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			cli := l.start(t, l.cli, false, nil, clientPy, "idle", serverAddr, wirePort)
			cli.expect(t, "connected")
			if applied {
				r, j := applyCmd(t, "--idle", strconv.Itoa(wireIdle), "--interval", strconv.Itoa(wireIntvl), "--count",
					strconv.Itoa(wireCnt), strconv.Itoa(cli.cmd.Process.Pid))
				if r.status != 0 || *j.Processes[0].Changed != 1 {
					t.Fatalf("apply in the client's namespace: %s", r)
				}
			}
			l.vanish(t, l.srv, l.srvIf)
			fmt.Fprintln(cli.in, "go")
			o := cli.outcome(t, wireWatch)
			switch {
			case applied && (o.errno != etimedout || o.seconds > wireBound.Seconds()):
				out, _ := exec.Command("ip", "netns", "exec", l.cli, "ss", "-tnoei").CombinedOutput()
				t.Errorf("want ETIMEDOUT within %v, got %q; the client's namespace:\n%s", wireBound, o.line, out)
			case !applied && o.line != "":
				t.Errorf("control: want the client still waiting after %v, got %q", wireWatch, o.line)
			}
		})
	}
}

// What cannot be done is said in words, with its exit status, and changes
// nothing: bad options (2), a PID that is not there (1), another user's
// process as non-root (1); the control, the same apply as root, changes it.
func TestApplyRefused(t *testing.T) {
	py := python(t)
	p := startPythonPair(t, py, 1)
	pid := strconv.Itoa(p.server.cmd.Process.Pid)
	off := func(what string) {
		t.Helper()
		if _, s := p.check(t, "check"); len(s) != 1 || !strings.HasPrefix(s[0], "ka=0 ") {
			t.Errorf("%s changed the connection: %v", what, s)
		}
	}
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"--idle", "0", pid}, 2, `--idle "0" is out of range`},
		{[]string{"--count", "many", pid}, 2, `--count "many"`},
		{[]string{"--idle", "60", pid, "not-a-pid"}, 2, "takes PIDs or one UNIT or CGROUP"},
		{[]string{"--idle", "60", "-5"}, 2, ""},
		{[]string{"--attach", pid}, 2, "--attach needs a UNIT or CGROUP"},
		{[]string{}, 2, "apply needs a PID"},
		{[]string{"--config", "/nonexistent/keepalive.conf", pid}, 2, "nonexistent"},
	} {
		r := run{args: append([]string{command, "apply"}, tc.args...)}.exec(t)
		if r.status.ExitStatus() != tc.status || !strings.Contains(r.stderr, tc.want) ||
			(tc.status == 2 && !strings.Contains(r.stderr, "nothing was changed")) {
			t.Errorf("apply %v: want exit %d and %q on stderr, got %s", tc.args, tc.status, tc.want, r)
		}
		off(fmt.Sprint(tc.args))
	}
	// A PID that is not there: the kernel's pid_max is the bound.
	r := run{args: []string{command, "apply", "--idle", "60", "4194304"}}.exec(t)
	if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "no process 4194304") {
		t.Errorf("a PID that does not exist: %s", r)
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: running apply as another user needs root")
	}
	need(t, "setpriv")
	ka := buildTree(t)
	os.Chmod(strings.TrimSuffix(ka, "/keepalive"), 0o755)
	r = run{args: []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ka, "apply", "--idle", "60", pid}}.exec(t)
	if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "another user's (uid 0)") || !strings.Contains(r.stderr, "as root") {
		t.Errorf("as nobody on root's process: want exit 1 saying it is another user's, got %s", r)
	}
	off("apply as nobody")
	r = run{args: []string{ka, "apply", "--idle", "60", pid}}.exec(t)
	if _, s := p.check(t, "check"); r.status != 0 || len(s) != 1 || !strings.HasPrefix(s[0], "ka=1 idle=60 ") {
		t.Errorf("control, as root: %v\n%s", s, r)
	}
}

// pidfd_getfd refused by a seccomp sandbox around the command (as a
// container runtime's profile or systemd's SystemCallFilter= would): with
// ENOSYS, the words for a kernel without it; with EPERM as root, the words
// for a sandbox or security module. Either way exit 1, the connection
// unchanged; the control, the same apply outside the sandbox, changes it.
func TestApplyPidfdGetfdRefused(t *testing.T) {
	py := python(t)
	p := startPythonPair(t, py, 1)
	pid := strconv.Itoa(p.server.cmd.Process.Pid)
	const pidfdGetfd = "438" // the same number in every Linux system call table since 5.6
	for _, tc := range []struct {
		errno string
		want  string
	}{
		{"38", "has no pidfd_getfd, which came in Linux 5.6 (or a seccomp filter hides it)"}, // ENOSYS
		{"1", "a security module (SELinux, AppArmor) or a seccomp filter"},                   // EPERM
	} {
		t.Run("errno-"+tc.errno, func(t *testing.T) {
			if tc.errno == "1" && os.Geteuid() != 0 {
				t.Skip("SKIPPED LOUDLY: the words for EPERM under a sandbox are root's (a user gets the ptrace rules'); run as root")
			}
			r := run{args: []string{"deny", tc.errno, pidfdGetfd, command, "apply", "--idle", "60", pid}}.exec(t)
			if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "keepalive cgroup attach") {
				t.Errorf("pidfd_getfd failing with errno %s: want exit 1 and %q, pointing at the cgroup mode; got %s", tc.errno, tc.want, r)
			}
			if _, s := p.check(t, "check"); !strings.HasPrefix(s[0], "ka=0 ") {
				t.Errorf("errno %s: the connection changed: %v", tc.errno, s)
			}
		})
	}
	r := run{args: []string{command, "apply", "--idle", "60", pid}}.exec(t)
	if _, s := p.check(t, "check"); r.status != 0 || !strings.HasPrefix(s[0], "ka=1 idle=60 ") {
		t.Errorf("control, no sandbox: %v\n%s", s, r)
	}
}

// A cgroup's processes (a unit's, as systemd makes them): apply CGROUP
// reaches each; --attach also gives the cgroup's new connections the
// settings, which a plain apply says it does not.
func TestApplyCgroup(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := echoListener(t)
	var procs []*proc
	for i := 0; i < 2; i++ {
		cmd := exec.Command(probeGoBin, "wire", addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
		p := startProc(t, cmd)
		if l := p.expect(t, "connected"); !strings.Contains(l, "ka=0") {
			t.Fatalf("control: %q, want keepalive off", l)
		}
		procs = append(procs, p)
	}
	r := run{args: []string{command, "apply", "--idle", "33", c.dir}}.exec(t)
	if r.status != 0 || !strings.Contains(r.stdout, "do not get these settings: keepalive cgroup attach") {
		t.Errorf("apply CGROUP: %s", r)
	}
	for _, p := range procs {
		if tm := keepaliveTimer(t, ownLocal(t, p.cmd.Process.Pid)); tm < 20 || tm > 33 {
			t.Errorf("process %d: keepalive timer %d s, want about 33 s", p.cmd.Process.Pid, tm)
		}
	}
	// A new connection in the cgroup: not applied to without --attach.
	probe := c.probe(t, true, probeGoBin, "dial", addr)
	if probe["ka"] != "0" {
		t.Errorf("control: a new connection after a plain apply has %s, want keepalive off", fields(probe))
	}
	r = run{args: []string{command, "apply", "--idle", "33", "--force", "--attach", "--bpffs", c.bpffs, c.dir}}.exec(t)
	if r.status != 0 || !strings.Contains(r.stdout, "attached to "+c.dir) {
		t.Fatalf("apply --attach: %s", r)
	}
	if probe = c.probe(t, true, probeGoBin, "dial", addr); probe["ka"] != "1" || probe["idle"] != "33" {
		t.Errorf("a new connection after apply --attach: %s, want keepalive with idle 33", fields(probe))
	}
}

// keepalive apply with rules by destination: each existing connection gets
// its rule, chosen by its far end and service port as the library and the
// cgroup mode choose (a KEEPALIVE=off rule leaves it alone), and listening
// sockets are left alone; read back from the kernel with the probe's socks
// (getsockopt on duplicates), a process not applied to as the control.
func TestApplyDest(t *testing.T) {
	buildProbes(t)
	py := python(t)
	holder := func() (*proc, []map[string]string) {
		p := startProc(t, exec.Command(py, "-c", pyScript("rules_holder.py"), "1", "1", "1"))
		p.expect(t, "ready")
		return p, socksOf(t, p.cmd.Process.Pid)
	}
	target, before := holder()
	control, _ := holder()
	var listeners []string
	for _, s := range before {
		if s["state"] == "listen" {
			listeners = append(listeners, s["local"])
		}
		if s["ka"] != "0" {
			t.Fatalf("before apply: %v, want keepalive off everywhere", s)
		}
	}
	if len(listeners) != 3 {
		t.Fatalf("the holder's listeners: %v, want 3", listeners)
	}
	// The third listener (127.0.0.1, a port of its own) is left alone by
	// rule; 127.0.0.2 has a rule; the rest get the default.
	off := netip.MustParseAddrPort(listeners[2]).Port()
	conf := writeConf(t, fmt.Sprintf("KEEPIDLE=600\nto 127.0.0.0/8 port %d KEEPALIVE=off\nto 127.0.0.2 KEEPIDLE=22\n", off))
	r := run{args: []string{command, "apply", "--config", conf, strconv.Itoa(target.cmd.Process.Pid)}}.exec(t)
	if r.status != 0 || !strings.Contains(r.stdout, "2 rules by destination first, else idle 600s") ||
		!strings.Contains(r.stdout, "listening sockets are left alone") {
		t.Fatalf("apply with rules: %s", r)
	}
	for _, s := range socksOf(t, target.cmd.Process.Pid) {
		local, peer := s["local"], s["peer"]
		got, want := "ka="+s["ka"]+" idle="+s["idle"], "ka=1 idle=600"
		switch {
		case s["state"] == "listen", strings.HasSuffix(local, fmt.Sprintf(":%d", off)) || strings.HasSuffix(peer, fmt.Sprintf(":%d", off)):
			got, want = "ka="+s["ka"], "ka=0" // left alone, the kernel's idle
		case strings.HasPrefix(peer, "127.0.0.2:"):
			want = "ka=1 idle=22"
		}
		if got != want {
			t.Errorf("%s %s -> %s: %s, want %s", s["state"], local, peer, got, want)
		}
	}
	for _, s := range socksOf(t, control.cmd.Process.Pid) {
		if s["ka"] != "0" {
			t.Errorf("control, not applied to: %v, want keepalive off", s)
		}
	}
}

// socksOf is the probe's socks: each TCP socket of pid with what the
// kernel holds of its keepalive.
func socksOf(t *testing.T, pid int) []map[string]string {
	t.Helper()
	out, err := exec.Command(probeGoBin, "socks", strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("probe socks %d: %v\n%s", pid, err, out)
	}
	var socks []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := map[string]string{}
		for _, f := range strings.Fields(l) {
			k, v, _ := strings.Cut(f, "=")
			m[k] = v
		}
		socks = append(socks, m)
	}
	return socks
}
