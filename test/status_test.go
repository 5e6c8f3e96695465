package test

// keepalive status: the host-wide view (no PID) and the detail of one
// process (status PID).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libkeepalive/libkeepalive/shim"
)

// holderPy holds N loopback connections (both ends) until its stdin ends.
// mode: plain (no keepalive), keepalive (both ends, TCP_KEEPIDLE 77), half
// (the connecting ends only). An optional third argument becomes its name
// (comm), escapes and all.
var holderPy = pyScript("holder.py")

// holder starts args (which end in holderPy's arguments) and waits until it
// holds its connections.
func holder(t *testing.T, env []string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(baseEnv(), env...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait(); cancel() })
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("%v did not start: %q %v", args, l, err)
	}
	return cmd.Process.Pid
}

// statusRow is one line of keepalive status.
type statusRow struct{ comm, tcp, keepalive, idle, risk string }

var rowRe = regexp.MustCompile(`^(\d+)\s+("(?:[^"\\]|\\.)*")\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)$`)

func statusRows(t *testing.T, out string) map[int]statusRow {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || !regexp.MustCompile(`^PID\s+COMMAND\s+TCP\s+KEEPALIVE\s`).MatchString(lines[0]) {
		t.Fatalf("no header: %q", out)
	}
	rows := map[int]statusRow{}
	for _, l := range lines[1:] {
		if m := rowRe.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			rows[pid] = statusRow{m[2], m[3], m[4], m[5], m[6]}
		}
	}
	return rows
}

// ssEstablishedByPID counts each process's established TCP sockets as ss sees
// them: the control for keepalive status's TCP column.
func ssEstablishedByPID(t *testing.T, pids ...int) map[int]int {
	t.Helper()
	out, err := exec.Command("ss", "-tnpH", "state", "established").Output()
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for _, pid := range pids {
		n[pid] = strings.Count(string(out), "pid="+strconv.Itoa(pid)+",")
	}
	return n
}

// keepalive status with no PID, on real processes holding loopback
// connections with and without keepalive, one under the library, one
// named with a terminal escape, one holding only a listener.
func TestStatusAll(t *testing.T) {
	py := python(t)
	need(t, "ss")
	ka := buildTree(t)
	escape := "\x1b]0;owned\x07x"
	plain := holder(t, nil, py, "-c", holderPy, "plain", "2")
	keep := holder(t, nil, py, "-c", holderPy, "keepalive", "2")
	half := holder(t, nil, py, "-c", holderPy, "half", "2")
	preloaded := holder(t, []string{"LD_PRELOAD=" + lib, "KEEPIDLE=61"}, py, "-c", holderPy, "plain", "1")
	named := holder(t, nil, py, "-c", holderPy, "plain", "1", escape)
	listener := holder(t, nil, py, "-c", holderPy, "plain", "0")

	want := map[int]statusRow{
		plain:     {`"python3"`, "4", "0", "-", "AT-RISK:4"},
		keep:      {`"python3"`, "4", "4", "77s", "-"},
		half:      {`"python3"`, "4", "2", "77s", "AT-RISK:2"},
		preloaded: {`"python3"`, "2", "2", "61s", "-"},
		named:     {shim.Quote(escape), "2", "0", "-", "AT-RISK:2"},
	}
	// The control: ss sees the connections the test expects.
	ss := ssEstablishedByPID(t, plain, keep, half, preloaded, named, listener)
	for pid, w := range want {
		if strconv.Itoa(ss[pid]) != w.tcp {
			t.Fatalf("control: ss shows %d established connections for %d, the test expects %s", ss[pid], pid, w.tcp)
		}
	}
	if ss[listener] != 0 {
		t.Fatalf("control: ss shows connections for the listener-only process")
	}

	for _, args := range [][]string{{"status"}, {"status", "--timers"}} {
		r := run{args: append([]string{ka}, args...)}.exec(t)
		t.Logf("%v:\n%s", args, r.stdout)
		if r.status != 0 || strings.ContainsRune(r.stdout, 0x1b) || strings.ContainsRune(r.stdout, 0x07) {
			t.Fatalf("%v: %s", args, r)
		}
		rows := statusRows(t, r.stdout)
		for pid, w := range want {
			if args[len(args)-1] == "--timers" {
				w.idle = map[bool]string{true: "?", false: "-"}[w.keepalive != "0"]
			}
			if rows[pid] != w {
				t.Errorf("%v: process %d: %+v, want %+v", args, pid, rows[pid], w)
			}
		}
		if _, ok := rows[listener]; ok {
			t.Errorf("%v: a process holding only a listener is listed", args)
		}
		if !regexp.MustCompile(`(?m)^\d+ process\(es\) hold \d+ established TCP connection\(s\); \d+ connection\(s\) in \d+ process\(es\) have no keepalive \(AT-RISK\); `).MatchString(r.stdout) {
			t.Errorf("%v: no summary line", args)
		}
	}
	// The detail view quotes the name too.
	r := run{args: []string{ka, "status", strconv.Itoa(named)}}.exec(t)
	if r.status != 0 || strings.ContainsRune(r.stdout, 0x1b) || !strings.Contains(r.stdout, "("+shim.Quote(escape)+")") {
		t.Errorf("status %d: %s", named, r)
	}
}

// Run as nobody, keepalive status lists nobody's processes and counts
// root's as skipped, with the reason.
func TestStatusAllUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: needs root to run processes as another user")
	}
	need(t, "setpriv")
	// The system's interpreter: nobody cannot reach a version manager's.
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("SKIPPED LOUDLY: %s is missing; nobody cannot run the test's own python", py)
	}
	ka := buildTree(t)
	os.Chmod(strings.TrimSuffix(ka, "/keepalive"), 0o755)
	asNobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	mine := holder(t, nil, append(asNobody, py, "-c", holderPy, "plain", "1")...)
	// setpriv execs, so the process is python itself.
	roots := holder(t, nil, py, "-c", holderPy, "keepalive", "1")
	r := run{args: append(asNobody, ka, "status")}.exec(t)
	t.Logf("as nobody:\n%s", r.stdout)
	rows := statusRows(t, r.stdout)
	if w := (statusRow{`"python3"`, "2", "0", "-", "AT-RISK:2"}); rows[mine] != w {
		t.Errorf("nobody's own process %d: %+v, want %+v", mine, rows[mine], w)
	}
	if _, ok := rows[roots]; ok {
		t.Errorf("root's process %d is listed for nobody", roots)
	}
	if r.status != 0 || !regexp.MustCompile(`; [1-9]\d* process\(es\) skipped: [1-9]\d* permission denied`).MatchString(r.stdout) {
		t.Errorf("as nobody: %s", r)
	}
	// The control: root sees both.
	r = run{args: []string{ka, "status"}}.exec(t)
	rows = statusRows(t, r.stdout)
	if rows[mine].tcp != "2" || rows[roots].keepalive != "2" {
		t.Errorf("as root: %s", r)
	}
}

// A process in a network namespace of its own (a container): its sockets
// are only in that namespace's sock_diag, which root enters.
func TestStatusAllNetworkNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: needs root to make a network namespace")
	}
	need(t, "unshare")
	need(t, "ip")
	py := python(t)
	ka := buildTree(t)
	pid := holder(t, nil, "unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, py, "-c", holderPy, "half", "3")
	self, _ := os.Readlink("/proc/self/ns/net")
	theirs, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if self == theirs {
		t.Fatal("control: the holder is in the test's own network namespace; the case proves nothing")
	}
	if n := ssEstablishedByPID(t, pid)[pid]; n != 0 {
		t.Fatalf("control: ss in the test's namespace sees %d of the holder's connections", n)
	}
	r := run{args: []string{ka, "status"}}.exec(t)
	if w := (statusRow{`"python3"`, "6", "3", "77s", "AT-RISK:3"}); statusRows(t, r.stdout)[pid] != w {
		t.Errorf("process %d in its own network namespace: %+v, want %+v\n%s", pid, statusRows(t, r.stdout)[pid], w, r)
	}
	// The detail view reads the same namespace: a listener, six connections,
	// the three dialled ends with keepalive and its timer running.
	r = run{args: []string{ka, "status", strconv.Itoa(pid)}}.exec(t)
	timers := regexp.MustCompile(`(?m)^\d+\s+ESTAB\s.*\son\s+77s\s.*\skeepalive,\d+s,0$`).FindAllString(r.stdout, -1)
	if r.status != 0 || !strings.Contains(r.stdout, "7 TCP socket(s)") || len(timers) != 3 {
		t.Errorf("status %d: %s", pid, r)
	}
}

// keepalive status on a live process, with and without the library.
func TestStatus(t *testing.T) {
	py := python(t)
	ka := buildTree(t)
	server := pyScript("status_server.py")
	for _, preload := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := []string{py, "-c", server}
		if preload {
			args = append([]string{ka, "--idle", "60", "--interval", "10", "--"}, args...)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = baseEnv()
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "ready\n" {
			t.Fatalf("server did not start: %q %v", l, err)
		}
		r := run{args: []string{ka, "status", strconv.Itoa(cmd.Process.Pid)}}.exec(t)
		in.Close()
		cmd.Wait()
		cancel()
		t.Logf("preload %v:\n%s", preload, r.stdout)
		if r.status != 0 || !strings.Contains(r.stdout, "3 TCP socket(s)") {
			t.Fatalf("status: %s", r)
		}
		rows := regexp.MustCompile(`(?m)^\d+\s+(LISTEN|ESTAB)\s.*$`).FindAllString(r.stdout, -1)
		if len(rows) != 3 {
			t.Fatalf("want 3 rows: %s", r.stdout)
		}
		for _, row := range rows {
			f := strings.Fields(row)
			keep, idle, timer := f[4], f[5], f[9]
			if preload {
				if keep != "on" || idle != "60s" || (f[1] == "ESTAB") != strings.HasPrefix(timer, "keepalive,") {
					t.Errorf("with the library: %q", row)
				}
			} else if keep != "off" || timer != "-" {
				t.Errorf("without the library: %q", row)
			}
		}
	}
	if r := (run{args: []string{ka, "status", "999999999"}}).exec(t); r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "no process 999999999") {
		t.Errorf("missing process: %s", r)
	}
	if os.Geteuid() == 0 {
		r := run{args: []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ka, "status", "1"}}.exec(t)
		if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "cannot inspect process 1") {
			t.Errorf("a process of another user: %s", r)
		}
	}
}

// status --json and status PID --json: the same numbers as the tables,
// held against ss (established connections by process, keepalive timers by
// socket), with a plain process as the control.
func TestStatusJSON(t *testing.T) {
	py := python(t)
	need(t, "ss")
	ka := buildTree(t)
	plain := holder(t, nil, py, "-c", holderPy, "plain", "2")
	keep := holder(t, nil, py, "-c", holderPy, "keepalive", "2")
	half := holder(t, nil, py, "-c", holderPy, "half", "2")
	ss := ssEstablishedByPID(t, plain, keep, half)
	r := run{args: []string{ka, "status", "--json"}}.exec(t)
	var host struct {
		Processes []struct {
			PID            int  `json:"pid"`
			Established    int  `json:"established"`
			Keepalive      int  `json:"keepalive"`
			AtRisk         int  `json:"at_risk"`
			MinIdleSeconds *int `json:"min_idle_seconds"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &host); err != nil || r.status != 0 {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	want := map[int][3]int{plain: {ss[plain], 0, ss[plain]}, keep: {ss[keep], ss[keep], 0}, half: {ss[half], ss[half] / 2, ss[half] / 2}}
	seen := 0
	for _, p := range host.Processes {
		w, ok := want[p.PID]
		if !ok {
			continue
		}
		seen++
		if got := [3]int{p.Established, p.Keepalive, p.AtRisk}; got != w {
			t.Errorf("process %d: established, keepalive, at_risk = %v, want %v (ss: %d established)", p.PID, got, w, ss[p.PID])
		}
		if (p.MinIdleSeconds == nil) != (p.PID == plain) || p.MinIdleSeconds != nil && *p.MinIdleSeconds != 77 {
			t.Errorf("process %d: min_idle_seconds %v", p.PID, p.MinIdleSeconds)
		}
	}
	if seen != 3 || ss[plain] != 4 {
		t.Fatalf("listed %d of the 3 holders (ss: %v): %s", seen, ss, r.stdout)
	}
	for _, pid := range []int{plain, half} {
		r := run{args: []string{ka, "status", "--json", strconv.Itoa(pid)}}.exec(t)
		var one struct {
			PID     int `json:"pid"`
			Sockets []struct {
				State       string `json:"state"`
				Keepalive   *bool  `json:"keepalive"`
				IdleSeconds *int   `json:"idle_seconds"`
				Timer       string `json:"timer"`
			} `json:"sockets"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || r.status != 0 || one.PID != pid {
			t.Fatalf("status --json %d: %v\n%s", pid, err, r)
		}
		established, on := 0, 0
		for _, s := range one.Sockets {
			if s.Keepalive == nil {
				t.Errorf("status --json %d: a socket's keepalive is null, as root: %s", pid, r.stdout)
				continue
			}
			if s.State == "ESTAB" {
				established++
				if *s.Keepalive {
					on++
					if s.IdleSeconds == nil || *s.IdleSeconds != 77 {
						t.Errorf("status --json %d: keepalive socket idle %v, want 77", pid, s.IdleSeconds)
					}
				}
			}
		}
		out, err := exec.Command("ss", "-tnpoH", "state", "established").Output()
		if err != nil {
			t.Fatal(err)
		}
		timers := 0
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "pid="+strconv.Itoa(pid)+",") && strings.Contains(l, "timer:(keepalive") {
				timers++
			}
		}
		if established != ss[pid] || on != timers {
			t.Errorf("status --json %d: %d established, %d with keepalive; ss: %d established, %d keepalive timers", pid, established, on, ss[pid], timers)
		}
	}
}

// byRuleCase is a holder of loopback connections without keepalive
// (py/rules_holder.py), a configuration file with two rules for some of
// them, and how many of its connections fall under each, from what ss
// says the kernel holds.
type byRuleCase struct {
	pid                int
	conf               string // the rules' file
	rule, off          string // the rules' text, as keepalive check prints them
	ruleN, offN, ownDf int    // the holder's connections under each; ownDf: under none
}

func newByRuleCase(t *testing.T) byRuleCase {
	t.Helper()
	py := python(t)
	need(t, "ss")
	c := byRuleCase{pid: holder(t, nil, py, "-c", pyScript("rules_holder.py"), "3", "4", "2")}
	ss := func(state string) [][2]netip.AddrPort {
		out, err := exec.Command("ss", "-tnpH", "state", state).Output()
		if err != nil {
			t.Fatal(err)
		}
		var ends [][2]netip.AddrPort
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 4 || !strings.Contains(l, "pid="+strconv.Itoa(c.pid)+",") {
				continue
			}
			local, err := netip.ParseAddrPort(f[2])
			if err != nil {
				t.Fatalf("ss: %q: %v", l, err)
			}
			peer, _ := netip.ParseAddrPort(f[3]) // a listener's *:* does not parse: no peer
			ends = append(ends, [2]netip.AddrPort{local, peer})
		}
		return ends
	}
	listening, established := ss("listening"), ss("established")
	// Which listener is which: the one on 127.0.0.2, and of the two on
	// 127.0.0.1 the one with two connections made to it.
	ports := map[uint16]bool{}
	var p2, p3 uint16
	for _, l := range listening {
		ports[l[0].Port()] = true
		made := 0
		for _, e := range established {
			if e[1] == l[0] {
				made++
			}
		}
		switch {
		case l[0].Addr() == netip.MustParseAddr("127.0.0.2"):
			p2 = l[0].Port()
		case made == 2:
			p3 = l[0].Port()
		}
	}
	if len(listening) != 3 || len(established) != 2*(3+4+2) || p2 == 0 || p3 == 0 {
		t.Fatalf("control: ss shows %d listeners and %d connections of the holder (want 3 and 18), port %d on 127.0.0.2, %d with 2 connections",
			len(listening), len(established), p2, p3)
	}
	c.rule = fmt.Sprintf("to 127.0.0.2/32 port %d KEEPIDLE=60", p2)
	c.off = fmt.Sprintf("to 127.0.0.0/8 port %d KEEPALIVE=off", p3)
	c.conf = filepath.Join(t.TempDir(), "keepalive.conf")
	os.WriteFile(c.conf, []byte(fmt.Sprintf("KEEPIDLE=300\nto 127.0.0.2 port %d KEEPIDLE=60\nto 127.0.0.0/8 port %d KEEPALIVE=off\n", p2, p3)), 0o644)
	// The rule each connection falls under, as the library reads it: the
	// far end, and the service port (its own port if that is a listener's,
	// accepted, else the peer's).
	onP2 := 0
	for _, e := range established {
		local, peer := e[0], e[1]
		service := peer.Port()
		if ports[local.Port()] {
			service = local.Port()
		}
		if service == p2 {
			onP2++
		}
		switch {
		case peer.Addr() == netip.MustParseAddr("127.0.0.2") && service == p2:
			c.ruleN++
		case service == p3:
			c.offN++
		default:
			c.ownDf++
		}
	}
	// Some of the connections to 127.0.0.2 were made from 127.0.0.1: their
	// accepted ends' far end is not the rule's.
	// The three counts differ, so that one said for another is seen.
	if c.ruleN == 0 || c.ruleN >= onP2 || c.offN == 0 || c.ownDf == 0 || c.ruleN == c.offN || c.ruleN == c.ownDf || c.offN == c.ownDf {
		t.Fatalf("control: the holder's connections do not test the rules: %d under the rule (of %d on its port), %d left alone, %d under none", c.ruleN, onP2, c.offN, c.ownDf)
	}
	return c
}

// keepalive status with rules by destination: the connections at risk by
// rule in the table's section and in --json, the counts ss's; a file
// without rules adds nothing (the control).
func TestStatusByRule(t *testing.T) {
	ka := buildTree(t)
	c := newByRuleCase(t)
	line := regexp.MustCompile(`(?m)^  (\d+|-) +(\d+|-) +(.*)$`)
	for _, timers := range []bool{false, true} {
		args := []string{ka, "status", "--config", c.conf}
		if timers {
			args = append(args, "--timers")
		}
		r := run{args: args}.exec(t)
		t.Logf("%v:\n%s", args[1:], r.stdout)
		_, section, ok := strings.Cut(r.stdout, "\nAt risk by rule ("+c.conf+"; ")
		if r.status != 0 || !ok || statusRows(t, r.stdout)[c.pid].risk != "AT-RISK:18" {
			t.Fatalf("%v: %s", args[1:], r)
		}
		got := map[string][2]string{}
		for _, m := range line.FindAllStringSubmatch(section, -1) {
			got[m[3]] = [2]string{m[1], m[2]}
		}
		want := map[string][2]string{
			c.rule: {strconv.Itoa(c.ruleN), "2"},
			c.off + " (left alone by rule: " + strconv.Itoa(c.offN) + " connection(s) without keepalive by choice)": {"-", "3"},
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%v: %q: %v, want %v", args[1:], k, got[k], w)
			}
		}
		if df, ok := got["the default (no rule matches)"]; !ok || df[1] != "-" || atoi(t, df[0]) < c.ownDf {
			t.Errorf("%v: the default: %v, want at least the holder's %d", args[1:], df, c.ownDf)
		}
	}

	r := run{args: []string{ka, "status", "--json", "--config", c.conf}}.exec(t)
	var host struct {
		AtRisk int `json:"at_risk"`
		ByRule *struct {
			Config string `json:"config"`
			Rules  []struct {
				Line        int    `json:"line"`
				Rule        string `json:"rule"`
				LeavesAlone bool   `json:"leaves_alone"`
				AtRisk      int    `json:"at_risk"`
				LeftAlone   int    `json:"left_alone"`
			} `json:"rules"`
			DefaultAtRisk int      `json:"default_at_risk"`
			Problems      []string `json:"problems"`
		} `json:"by_rule"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &host); err != nil || r.status != 0 || host.ByRule == nil || len(host.ByRule.Rules) != 2 {
		t.Fatalf("status --json --config: %v\n%s", err, r)
	}
	b := host.ByRule
	r0, r1 := b.Rules[0], b.Rules[1]
	if b.Config != c.conf || r0.Line != 2 || r0.Rule != c.rule || r0.LeavesAlone || r0.AtRisk != c.ruleN || r0.LeftAlone != 0 ||
		r1.Line != 3 || r1.Rule != c.off || !r1.LeavesAlone || r1.AtRisk != 0 || r1.LeftAlone != c.offN ||
		b.DefaultAtRisk < c.ownDf || len(b.Problems) != 0 {
		t.Errorf("by_rule: %+v\nwant the rule's %d, %d left alone, at least %d under the default", *b, c.ruleN, c.offN, c.ownDf)
	}
	if sum := r0.AtRisk + r1.LeftAlone + b.DefaultAtRisk; sum != host.AtRisk {
		t.Errorf("by_rule counts %d connections, at_risk is %d: %s", sum, host.AtRisk, r.stdout)
	}

	// The control: the same connections, a file without rules.
	plain := filepath.Join(t.TempDir(), "keepalive.conf")
	os.WriteFile(plain, []byte("KEEPIDLE=300\n"), 0o644)
	r = run{args: []string{ka, "status", "--config", plain}}.exec(t)
	if r.status != 0 || strings.Contains(r.stdout, "by rule") || statusRows(t, r.stdout)[c.pid].risk != "AT-RISK:18" {
		t.Errorf("control: status without rules: %s", r)
	}
	r = run{args: []string{ka, "status", "--json", "--config", plain}}.exec(t)
	if r.status != 0 || !strings.Contains(r.stdout, "\n  \"by_rule\": null\n") {
		t.Errorf("control: status --json without rules: by_rule is not null: %s", r)
	}
}
