package shim_test

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/libkeepalive/libkeepalive/shim"
	"github.com/libkeepalive/libkeepalive/shim/cparse/cparsetest"
	"github.com/libkeepalive/libkeepalive/shim/internal/rulesh"
)

type want struct {
	state cparsetest.State
	value int64
}

var (
	unset   = want{cparsetest.Unset, 0}
	invalid = want{cparsetest.Invalid, 0}
)

func ok(v int64) want { return want{cparsetest.OK, v} }

var cases = []struct {
	v    int
	text string
	want want
}{
	{shim.VarKeepalive, "", unset},
	{shim.VarKeepalive, "off", ok(0)},
	{shim.VarKeepalive, "OFF", ok(0)},
	{shim.VarKeepalive, "No", ok(0)},
	{shim.VarKeepalive, "false", ok(0)},
	{shim.VarKeepalive, "0", ok(0)},
	{shim.VarKeepalive, "on", ok(1)},
	{shim.VarKeepalive, "YES", ok(1)},
	{shim.VarKeepalive, "True", ok(1)},
	{shim.VarKeepalive, "1", ok(1)},
	{shim.VarKeepalive, "skip", invalid},
	{shim.VarKeepalive, "force", ok(2)},
	{shim.VarKeepalive, "FORCE", ok(2)},
	{shim.VarDebug, "force", invalid},
	{shim.VarKeepalive, "yeſ", invalid}, // Unicode folds ſ to s; we do not
	{shim.VarKeepalive, " off", invalid},
	{shim.VarKeepalive, "00", invalid},
	{shim.VarIdle, "", unset},
	{shim.VarIdle, "1", ok(1)},
	{shim.VarIdle, "600", ok(600)},
	{shim.VarIdle, "0600", ok(600)},
	{shim.VarIdle, "32767", ok(32767)},
	{shim.VarIdle, "32768", invalid},
	{shim.VarIdle, "0", invalid},
	{shim.VarIdle, "-1", invalid},
	{shim.VarIdle, "+5", invalid},
	{shim.VarIdle, "5 ", invalid},
	{shim.VarIdle, "99999999999999999999999999", invalid},
	{shim.VarIdle, "90s", ok(90)},
	{shim.VarIdle, "2m", ok(120)},
	{shim.VarIdle, "1h30m", ok(5400)},
	{shim.VarIdle, "1.5m", ok(90)},
	{shim.VarIdle, "1500ms", invalid},
	{shim.VarIdle, "2000ms", ok(2)},
	{shim.VarIdle, "10h", invalid},
	{shim.VarIdle, "-5s", invalid},
	{shim.VarIdle, "0s", invalid},
	{shim.VarIdle, "abc", invalid},
	{shim.VarIdle, "5x", invalid},
	{shim.VarIntvl, "75", ok(75)},
	{shim.VarIntvl, "1m15s", ok(75)},
	{shim.VarCnt, "9", ok(9)},
	{shim.VarCnt, "127", ok(127)},
	{shim.VarCnt, "128", invalid},
	{shim.VarCnt, "0", invalid},
	{shim.VarCnt, "3s", invalid},
	{shim.VarUserTimeout, "0", ok(0)},
	{shim.VarUserTimeout, "3", ok(3000)},
	{shim.VarUserTimeout, "2500ms", ok(2500)},
	{shim.VarUserTimeout, "2.5s", ok(2500)},
	{shim.VarUserTimeout, "2500us", invalid},
	{shim.VarUserTimeout, "5m", ok(300000)},
	{shim.VarUserTimeout, "0s", ok(0)},
	{shim.VarUserTimeout, "-0s", ok(0)},
	{shim.VarUserTimeout, "2147483", ok(2147483000)},
	{shim.VarUserTimeout, "2147484", invalid},
	{shim.VarUserTimeout, "2147483647ms", ok(2147483647)},
	{shim.VarUserTimeout, "2147483648ms", invalid},
	{shim.VarUserTimeout, "-1s", invalid},
	{shim.VarDebug, "1", ok(1)},
	{shim.VarDebug, "2", invalid},
}

// goResult is what Go's Load makes of text as variable v.
func goResult(t testing.TB, v int, text string) (want, []shim.Problem) {
	c, probs := shim.Load(map[string]string{shim.Rules[v].Var: text})
	for _, p := range probs {
		if p.Var != v {
			t.Fatalf("problem reported for %s, only %s was set", shim.Rules[p.Var].Var, shim.Rules[v].Var)
		}
	}
	s := c.Settings()[v]
	switch {
	case len(probs) > 0:
		return invalid, probs
	case s.Set:
		return ok(s.Value), nil
	}
	return unset, nil
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		name := shim.Rules[tc.v].Var + "=" + tc.text
		got, _ := goResult(t, tc.v, tc.text)
		if got != tc.want {
			t.Errorf("Go %s: got %+v, want %+v", name, got, tc.want)
		}
		st, val := cparsetest.Parse(tc.v, tc.text)
		if st != cparsetest.OK {
			val = 0
		}
		if (want{st, val}) != tc.want {
			t.Errorf("C %s: got %v %d, want %+v", name, st, val, tc.want)
		}
	}
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct {
		env  string
		text string
		want string
	}{
		{"KEEPIDLE", "abc", `libkeepalive: KEEPIDLE="abc" is not a number or a duration: want whole seconds from 1 to 32767, as a number (600) or a duration (10m); keeping the kernel's TCP_KEEPIDLE`},
		{"KEEPCNT", "500", `libkeepalive: KEEPCNT="500" is out of range: want a number of probes from 1 to 127; keeping the kernel's TCP_KEEPCNT`},
		{"KEEPALIVE", "skip", `libkeepalive: KEEPALIVE="skip" is not an on/off word: want on, off or force (on/off, yes/no, true/false, 1/0, force, any case); keepalive stays on`},
		{"KEEPIDLE", "1500ms", `libkeepalive: KEEPIDLE="1500ms" is not a whole number of the unit: want whole seconds from 1 to 32767, as a number (600) or a duration (10m); keeping the kernel's TCP_KEEPIDLE`},
		{"KEEPINTVL", "5\n6", `libkeepalive: KEEPINTVL="5\x0a6" is not a number or a duration: want whole seconds from 1 to 32767, as a number (60) or a duration (1m); keeping the kernel's TCP_KEEPINTVL`},
	} {
		_, probs := shim.Load(map[string]string{tc.env: tc.text})
		if len(probs) != 1 {
			t.Fatalf("%s=%q: %d problems, want 1", tc.env, tc.text, len(probs))
		}
		if got := probs[0].Message(); got != tc.want {
			t.Errorf("%s=%q:\n got %s\nwant %s", tc.env, tc.text, got, tc.want)
		}
	}
}

// Every bad variable is reported, in table order, and the good ones apply.
func TestLoadGathersEveryProblem(t *testing.T) {
	c, probs := shim.Load(map[string]string{
		"KEEPALIVE": "maybe", "KEEPIDLE": "60", "KEEPINTVL": "0", "KEEPCNT": "x", "KEEPUSERTIMEOUT": "3",
	})
	var vars []string
	for _, p := range probs {
		vars = append(vars, shim.Rules[p.Var].Var)
	}
	if got := strings.Join(vars, ","); got != "KEEPALIVE,KEEPINTVL,KEEPCNT" {
		t.Errorf("problems for %s, want KEEPALIVE,KEEPINTVL,KEEPCNT", got)
	}
	if !c.Enabled() || c.Idle.Value != 60 || !c.Idle.Set || c.Intvl.Set || c.Cnt.Set || c.UserTimeout.Value != 3000 {
		t.Errorf("settings %+v", c)
	}
}

func TestConfigMatchesRules(t *testing.T) {
	params, err := env.GetFieldParams(&shim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != shim.NumVars {
		t.Fatalf("Config has %d variables, Rules %d", len(params), shim.NumVars)
	}
	for i, p := range params {
		if p.Key != shim.Rules[i].Var {
			t.Errorf("Config field %d reads %s, Rules[%d] is %s", i, p.Key, i, shim.Rules[i].Var)
		}
	}
	if shim.Rules[shim.VarIdle].Min != shim.Rules[shim.VarIntvl].Min || shim.Rules[shim.VarIdle].Max != shim.Rules[shim.VarIntvl].Max {
		t.Error("KEEPIDLE and KEEPINTVL share type Seconds but not their range")
	}
	for _, r := range shim.Rules {
		if r.Want == "" || r.Instead == "" || reflect.ValueOf(r.Kind).Int() < 0 {
			t.Errorf("rule %s lacks words for its message", r.Var)
		}
	}
}

func TestRulesHeaderIsGenerated(t *testing.T) {
	have, err := os.ReadFile("cparse/rules.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, rulesh.Header()) {
		t.Error("shim/cparse/rules.h is stale: run go generate ./shim")
	}
}

// FuzzConfig: Go and C agree on every text for every variable, and every
// refusal is one line that names the variable.
func FuzzConfig(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.v, tc.text)
	}
	for _, s := range []string{"1.5h", ".5s", "5.s", "1µs", "1μs", "9223372036854775807ns", "9223372036854775808ns",
		"-9223372036854775808ns", "2562047h", "1.0000000001s", "0.000000001h", "3600000000000000000000ns", "1e3s", "+0", "-0"} {
		f.Add(shim.VarIdle, s)
		f.Add(shim.VarUserTimeout, s)
	}
	f.Fuzz(func(t *testing.T, v int, text string) {
		if v < 0 || v >= shim.NumVars {
			v = ((v % shim.NumVars) + shim.NumVars) % shim.NumVars
		}
		if strings.IndexByte(text, 0) >= 0 {
			return // no environment value holds a NUL
		}
		got, probs := goResult(t, v, text)
		st, val := cparsetest.Parse(v, text)
		if st != cparsetest.OK {
			val = 0
		}
		if (want{st, val}) != got {
			t.Fatalf("%s=%q: Go %+v, C %v %d", shim.Rules[v].Var, text, got, st, val)
		}
		env := make([]string, shim.NumVars)
		env[v] = text
		cLines := cparsetest.Report(nil, env)
		if len(cLines) != len(probs) {
			t.Fatalf("%s=%q: Go %d problems, C %d lines %q", shim.Rules[v].Var, text, len(probs), len(cLines), cLines)
		}
		for i, p := range probs {
			m := p.Message()
			if m != cLines[i] {
				t.Fatalf("%s=%q: messages differ:\nGo %s\nC  %s", shim.Rules[v].Var, text, m, cLines[i])
			}
			if !printableASCII(m) || !strings.Contains(m, shim.Rules[v].Var+"=") {
				t.Fatalf("message %q", m)
			}
		}
	})
}

// printableASCII: nothing a message repeats can reach a terminal as a
// control sequence.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// goReport is every line Go has for a file read as src and an environment.
func goReport(path string, file []byte, env []string) []string {
	environ := map[string]string{}
	for i, v := range env {
		if i < shim.NumVars {
			environ[shim.Rules[i].Var] = v
		}
	}
	_, probs := shim.LoadWith(environ, shim.ParseFile(path, file))
	var lines []string
	for _, p := range probs {
		lines = append(lines, p.Message())
	}
	return lines
}

// goMerged is what Go makes of a file and an environment, in cparsetest's terms.
func goMerged(file []byte, env []string, name string) cparsetest.Merged {
	environ := map[string]string{}
	for i, v := range env {
		if i < shim.NumVars {
			environ[shim.Rules[i].Var] = v
		}
	}
	f := shim.ParseFile("keepalive.conf", file)
	c, probs := shim.LoadWith(environ, f)
	var m cparsetest.Merged
	for i, s := range c.Settings() {
		if s.Set {
			m.State[i], m.Value[i] = cparsetest.OK, s.Value
		}
	}
	// Go leaves an unaccepted value unset; C says invalid. Both keep the
	// kernel's value: compare that.
	m.Report, m.Excluded = len(probs) > 0, f.Excluded(name)
	var dests strings.Builder
	for _, d := range f.Dests {
		network := "any"
		if !d.Any {
			network = d.Net.String()
		}
		var states []cparsetest.State
		var values []int64
		for _, s := range d.Config.Settings() {
			st := cparsetest.Unset
			if s.Set {
				st = cparsetest.OK
			}
			states, values = append(states, st), append(values, s.Value)
		}
		dests.WriteString(cparsetest.DestLine(d.Line, network, uint(d.PortLo), uint(d.PortHi), states, values))
	}
	m.Dests = dests.String()
	return m
}

func cMerged(file []byte, env []string, name string) cparsetest.Merged {
	m := cparsetest.Merge(file, env, name)
	for i := range m.State {
		if m.State[i] == cparsetest.Invalid {
			m.State[i] = cparsetest.Unset
		}
	}
	return m
}

var fileCases = []struct {
	name string
	file string
	env  []string
}{
	{"empty", "", nil},
	{"values", "KEEPIDLE=60\nKEEPINTVL = 10 \n# comment\n\n  KEEPCNT=5\r\nKEEPUSERTIMEOUT=90s\n", nil},
	{"env wins", "KEEPIDLE=60\nKEEPCNT=5\n", []string{"", "30", "", ""}},
	{"empty env does not", "KEEPIDLE=60\n", []string{"", "", "", ""}},
	{"bad value", "KEEPIDLE=abc\nKEEPCNT=4\n", nil},
	{"bad value overridden", "KEEPIDLE=abc\n", []string{"", "30"}},
	{"bad env over file", "KEEPIDLE=60\n", []string{"", "0"}},
	{"unknown key", "KEEPIDLEE=60\n", nil},
	{"no equals", "KEEPIDLE 60\n", nil},
	{"again", "KEEPIDLE=60\nKEEPIDLE=70\n", nil},
	{"exclude", "KEEPALIVE_EXCLUDE=sshd, java  unshare\nKEEPIDLE=60\n", nil},
	{"off", "KEEPALIVE=off\n", nil},
	{"nul", "KEEPIDLE=6\x000\n", nil},
	{"too long", "#" + strings.Repeat("x", shim.FileMax) + "\n", nil},
	{"empty value", "KEEPIDLE=\n", nil},
	{"rules", "KEEPIDLE=600\nto 10.20.0.0/16 port 5432 KEEPIDLE=60 KEEPCNT=3\nto 2001:db8::/32 port 8000-8999 KEEPALIVE=off\nto any port 22 KEEPIDLE=30\nto ::ffff:10.0.0.0/104 KEEPIDLE=5\n", nil},
	{"bad rules", "to\nto KEEPIDLE=5\nto 10.0.0.0/33 KEEPIDLE=5\nto 10.20.1.0/16 KEEPIDLE=5\nto 10.0.0.0/8 port\nto 10.0.0.0/8 port 0-3 KEEPIDLE=1\nto 10.0.0.0/8\nto any x=1\nto any KEEPIDLE=1 KEEPIDLE=2\nto any KEEPCNT=x KEEPIDLE=y\nto any KEEPALIVE=force\nto fe80::1%eth0 KEEPIDLE=5\ntoo=1\nto=1\n", nil},
}

func TestFile(t *testing.T) {
	for _, tc := range fileCases {
		for _, name := range []string{"java", "python3"} {
			g, c := goMerged([]byte(tc.file), tc.env, name), cMerged([]byte(tc.file), tc.env, name)
			if g != c {
				t.Errorf("%s (%s): Go %+v, C %+v", tc.name, name, g, c)
			}
		}
	}
	g := goMerged([]byte(fileCases[1].file), nil, "x")
	if g.Value[shim.VarIdle] != 60 || g.Value[shim.VarIntvl] != 10 || g.Value[shim.VarCnt] != 5 || g.Value[shim.VarUserTimeout] != 90000 || g.Report {
		t.Errorf("values: %+v", g)
	}
	if g := goMerged([]byte(fileCases[2].file), fileCases[2].env, "x"); g.Value[shim.VarIdle] != 30 || g.Value[shim.VarCnt] != 5 {
		t.Errorf("env wins: %+v", g)
	}
	if g := goMerged([]byte(fileCases[10].file), nil, "java"); !g.Excluded {
		t.Errorf("java is excluded: %+v", g)
	}
}

func TestFileMessages(t *testing.T) {
	f := shim.ParseFile("/etc/keepalive.conf", []byte("KEEPIDLE=abc\nFOO=1\nKEEPCNT=3\nKEEPCNT=4\n"))
	var got []string
	for _, p := range f.Problems {
		got = append(got, p.Message())
	}
	want := []string{
		`libkeepalive: /etc/keepalive.conf:1: KEEPIDLE="abc" is not a number or a duration: want whole seconds from 1 to 32767, as a number (600) or a duration (10m); keeping the kernel's TCP_KEEPIDLE`,
		`libkeepalive: /etc/keepalive.conf:2 is not a setting: want KEY=VALUE with KEY one of KEEPALIVE, KEEPIDLE, KEEPINTVL, KEEPCNT, KEEPUSERTIMEOUT, KEEPALIVE_DEBUG, KEEPALIVE_EXCLUDE, or a rule (to NETWORK [port PORT] KEY=VALUE...); line ignored`,
		`libkeepalive: /etc/keepalive.conf:4 sets KEEPCNT again; the earlier line 3 is ignored`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzFile: Go and C agree on every file and environment.
func FuzzFile(f *testing.F) {
	for _, tc := range fileCases {
		env := append(tc.env, "", "", "", "", "", "")
		f.Add([]byte(tc.file), env[0], env[1], env[2], env[3], env[4], env[5], "java")
	}
	f.Add([]byte("KEEPIDLE=\x1b]0;x\x07\nKEEPCNT=\xff\n\x1b[2J\n"), "", "\x1b[31m", "", "", "", "", "/etc/keep alive\n.conf")
	f.Fuzz(func(t *testing.T, file []byte, e0, e1, e2, e3, e4, e5, name string) {
		env := []string{e0, e1, e2, e3, e4, e5}
		for _, e := range append(env, name) {
			if strings.IndexByte(e, 0) >= 0 {
				return // no environment value or program name holds a NUL
			}
		}
		g, c := goMerged(file, env, name), cMerged(file, env, name)
		if g != c {
			t.Fatalf("file %q env %q name %q:\nGo %+v\nC  %+v", file, env, name, g, c)
		}
		// The program name doubles as the file's path in the messages.
		path := name
		if path == "" {
			path = "keepalive.conf"
		}
		gl, cl := goReport(path, file, env), cparsetest.Report(&cparsetest.Source{Path: path, Text: file}, env)
		if strings.Join(gl, "\n") != strings.Join(cl, "\n") {
			t.Fatalf("file %q env %q path %q: reports differ:\nGo:\n%s\nC:\n%s", file, env, path, strings.Join(gl, "\n"), strings.Join(cl, "\n"))
		}
		for _, l := range gl {
			if !printableASCII(l) || !strings.HasPrefix(l, shim.Prefix) {
				t.Fatalf("message %q", l)
			}
		}
	})
}

// The readers' cost, for the record: C's runs once per process in the
// library's constructor, Go's only when there is something to report.
func BenchmarkLoadGo(b *testing.B) {
	env := map[string]string{"KEEPIDLE": "60", "KEEPINTVL": "10s", "KEEPCNT": "5", "KEEPUSERTIMEOUT": "90"}
	for b.Loop() {
		shim.Load(env)
	}
}

func BenchmarkMergeC(b *testing.B) {
	env := []string{"", "60", "10s", "5", "90", ""}
	for b.Loop() {
		cparsetest.Merge(nil, env, "x")
	}
}
