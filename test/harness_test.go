// Package test runs real programs under the built libkeepalive.so, each case
// next to a control run without it, and reads the outcome back from the
// kernel (getsockopt, /proc, wait statuses, ss). The C drivers in c/ are
// compiled once per run and the Python ones in py/ embedded; `make test`
// builds the library first and passes it in KEEPALIVE_LIB.
package test

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	lib     string // the library under test, an absolute path
	bin     string // the compiled drivers
	command string // the keepalive command
)

// The drivers, each from c/NAME.c.
var drivers = []string{"sockets", "accept", "safety", "signals", "crash", "dlopen", "launch", "hostile", "ownopts", "deny", "connects"}

// The Python drivers, each from py/NAME, as text: run as python3 -c (as
// they were when they lived here as strings) or written where a case needs
// a file.
//
//go:embed py/*.py
var pyDrivers embed.FS

func pyScript(name string) string {
	b, err := pyDrivers.ReadFile("py/" + name)
	if err != nil {
		panic("test: no Python driver " + name + ": " + err.Error())
	}
	return string(b)
}

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	lib = os.Getenv("KEEPALIVE_LIB")
	if lib == "" {
		lib = "../build/libkeepalive.so"
	}
	lib, _ = filepath.Abs(lib)
	if _, err := os.Stat(lib); err != nil {
		fmt.Fprintf(os.Stderr, "test: no library at %s: run `make test`, which builds it first (%v)\n", lib, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "libkeepalive-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = dir
	command = os.Getenv("KEEPALIVE_CMD")
	if command == "" {
		command = filepath.Join(dir, "keepalive-built")
		if out, err := exec.Command("go", "build", "-o", command, "../scripts/keepalive").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "test: building the keepalive command: %v\n%s", err, out)
			return 1
		}
	}
	cc := func(args ...string) error {
		out, err := exec.Command("gcc", append([]string{"-O1", "-Wall", "-Werror"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, d := range drivers {
		if err := cc("-o", filepath.Join(dir, d), filepath.Join("c", d+".c"), "-lpthread", "-ldl"); err != nil {
			fmt.Fprintln(os.Stderr, "test:", err)
			return 1
		}
	}
	if err := cc("-shared", "-fPIC", "-o", filepath.Join(dir, "libearly.so"), "c/libearly.c"); err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		return 1
	}
	if err := cc("-shared", "-fPIC", "-o", filepath.Join(dir, "libplain.so"), "c/plain.c"); err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		return 1
	}
	if err := cc("-o", filepath.Join(dir, "early"), "c/early.c", "-L"+dir, "-learly", "-Wl,-rpath,"+dir); err != nil {
		fmt.Fprintln(os.Stderr, "test:", err)
		return 1
	}
	if os.Geteuid() == 0 {
		sweepNamespaces()
	}
	return m.Run()
}

// run is one execution of a program.
type run struct {
	preload bool
	env     []string // added to a clean environment
	args    []string // args[0]: a driver name, or a program on PATH
	timeout time.Duration
	// Standard descriptors the program gets instead of /dev/null (stdin)
	// or the buffers exec returns (stdout, stderr), and process attributes.
	stdin, stdout, stderr *os.File
	attr                  *syscall.SysProcAttr
}

type result struct {
	stdout, stderr string
	status         syscall.WaitStatus
}

func (r result) String() string {
	return fmt.Sprintf("status %v\nstdout:\n%s\nstderr:\n%s", describeStatus(r.status), r.stdout, r.stderr)
}

func describeStatus(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// baseEnv is the test's environment without anything of ours in it.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "LD_PRELOAD" || strings.HasPrefix(k, "KEEP") || k == "GODEBUG" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func program(name string) string {
	if p := filepath.Join(bin, name); !strings.Contains(name, "/") {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

func (r run) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, program(r.args[0]), r.args[1:]...)
	cmd.Env = append(baseEnv(), r.env...)
	if r.preload {
		cmd.Env = append(cmd.Env, "LD_PRELOAD="+lib)
	}
	cmd.Dir = bin
	return cmd
}

// exec runs r to its end; a run that outlives its timeout is a hang and
// fails the test.
func (r run) exec(t testing.TB) result {
	t.Helper()
	if r.timeout == 0 {
		r.timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := r.command(ctx)
	cmd.SysProcAttr = r.attr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if r.stdin != nil {
		cmd.Stdin = r.stdin
	}
	if r.stdout != nil {
		cmd.Stdout = r.stdout
	}
	if r.stderr != nil {
		cmd.Stderr = r.stderr
	}
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s (preload %v) hung: killed after %v\n%s", strings.Join(r.args, " "), r.preload, r.timeout, res)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.status = ee.Sys().(syscall.WaitStatus)
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(r.args, " "), err)
	default:
		res.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	if r.preload && res.stderr != "" {
		t.Logf("stderr of %s under the library:\n%s", strings.Join(r.args, " "), res.stderr)
	}
	return res
}

// pair runs the same thing without the library (the control) and with it.
func pair(t testing.TB, env []string, args ...string) (control, shim result) {
	t.Helper()
	control = run{env: env, args: args}.exec(t)
	shim = run{preload: true, env: env, args: args}.exec(t)
	return control, shim
}

// passed insists that a driver ran to its end.
func passed(t testing.TB, name string, r result) {
	t.Helper()
	if r.status.ExitStatus() != 0 || !strings.Contains(r.stdout, "PASS\n") {
		t.Fatalf("%s did not pass:\n%s", name, r)
	}
}

// line returns the fields of the first output line that starts with prefix
// (the prefix and a space), as key=value pairs; "" for a missing line.
func line(out, prefix string) map[string]string {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix+" "); ok {
			m := map[string]string{}
			for _, f := range strings.Fields(rest) {
				k, v, _ := strings.Cut(f, "=")
				m[k] = v
			}
			return m
		}
	}
	return nil
}

func rawLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}

// tuned is the environment most cases run with.
var tuned = []string{"KEEPIDLE=10", "KEEPINTVL=5", "KEEPCNT=3", "KEEPUSERTIMEOUT=3"}

// wantTuned checks a describe() line against tuned.
func wantTuned(t testing.TB, what string, got map[string]string, userTimeout string) {
	t.Helper()
	want := map[string]string{"ka": "1", "idle": "10", "intvl": "5", "cnt": "3", "ut": userTimeout}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s=%s, want %s (all: %v)", what, k, got[k], v, got)
		}
	}
}

// wantUntouched checks that a control run saw the kernel's defaults, without
// which the comparison would prove nothing.
func wantUntouched(t testing.TB, what string, got map[string]string) {
	t.Helper()
	if got == nil || got["ka"] != "0" {
		t.Fatalf("control %s: keepalive is not off without the library (%v): the case proves nothing", what, got)
	}
}

// mode is a way the library runs in a host: with a clean configuration, or
// with one bad variable, which the library reports from its constructor (in
// C: the Go runtime never starts in either). The safety cases run in both.
type mode struct {
	name string
	env  []string
}

// reportVar is bad but harmless: it is reported and changes nothing about
// the sockets.
const reportVar = "KEEPALIVE_DEBUG=maybe"

var modes = []mode{{"clean", nil}, {"report", []string{reportVar}}}

// check insists that the report mode did report (on stderr), and the clean
// one did not.
func (m mode) check(t testing.TB, r result) {
	t.Helper()
	reported := strings.Contains(r.stderr, `KEEPALIVE_DEBUG="maybe"`)
	if m.name == "report" && !reported {
		t.Fatalf("mode report: no report on stderr; the case proves nothing:\n%s", r)
	}
	if m.name == "clean" && reported {
		t.Fatalf("mode clean: unexpected report:\n%s", r)
	}
}

// forModes runs f once per mode, as subtests.
func forModes(t *testing.T, f func(t *testing.T, m mode)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// buildTree lays out the command next to the library, as the build tree
// has them.
func buildTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, command, filepath.Join(dir, "keepalive"), 0o755)
	copyFile(t, lib, filepath.Join(dir, "libkeepalive.so"), 0o755)
	return filepath.Join(dir, "keepalive")
}

func need(t testing.TB, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		t.Fatalf("%s is not installed: `make test` installs it (scripts/deps)", program)
	}
}

// python is the real interpreter (not a version manager's wrapper script).
func python(t testing.TB) string {
	t.Helper()
	need(t, "python3")
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}
