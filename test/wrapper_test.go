package test

// The keepalive command as a wrapper: keepalive [options] -- command,
// --version, and the library it preloads.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

var pyProbe = pyScript("probe.py")

func TestWrapper(t *testing.T) {
	py := python(t)
	ka := buildTree(t)
	libHere := filepath.Join(filepath.Dir(ka), "libkeepalive.so")
	control := run{args: []string{py, "-c", pyProbe}}.exec(t)
	if !strings.HasPrefix(control.stdout, "0 ") {
		t.Fatalf("control: %s", control)
	}
	r := run{args: []string{ka, "--idle", "60", "--interval", "10s", "--count", "5", "--user-timeout", "2500ms", "--", py, "-c", pyProbe}}.exec(t)
	if want := "1 60 10 5 2500\n" + libHere + "\n"; r.stdout != want || r.status != 0 {
		t.Errorf("keepalive on python3: %s\nwant stdout %q", r, want)
	}
	// Prepends to an existing LD_PRELOAD, once.
	other := filepath.Join(bin, "libearly.so")
	r = run{env: []string{"LD_PRELOAD=" + other + ":" + libHere}, args: []string{ka, "--", py, "-c", pyProbe}}.exec(t)
	if want := libHere + ":" + other + "\n"; !strings.HasSuffix(r.stdout, want) || !strings.HasPrefix(r.stdout, "1 ") {
		t.Errorf("LD_PRELOAD: got %q, want it to end %q", r.stdout, want)
	}
	// --off, and variables already in the environment.
	r = run{env: []string{"KEEPIDLE=77"}, args: []string{ka, "--off", "--", py, "-c", pyProbe}}.exec(t)
	if !strings.HasPrefix(r.stdout, "0 7200 ") {
		t.Errorf("--off: %s", r)
	}
	r = run{env: []string{"KEEPIDLE=77"}, args: []string{ka, "--", py, "-c", pyProbe}}.exec(t)
	if !strings.HasPrefix(r.stdout, "1 77 ") {
		t.Errorf("KEEPIDLE from the environment: %s", r)
	}
	// The exit status is the command's.
	if r := (run{args: []string{ka, "--", "sh", "-c", "exit 7"}}).exec(t); r.status.ExitStatus() != 7 {
		t.Errorf("exit status %s, want 7", describeStatus(r.status))
	}
	if r := (run{args: []string{ka, "--", "no-such-command-here"}}).exec(t); r.status.ExitStatus() != 127 {
		t.Errorf("missing command: %s", r)
	}
	if r := (run{args: []string{ka, "--help"}}).exec(t); r.status != 0 || !strings.Contains(r.stdout, "keepalive status [--json] PID") {
		t.Errorf("--help: %s", r)
	}
}

// A bad option is named with its range, exit status 2, and the command is
// not run.
func TestWrapperRefusesBadValues(t *testing.T) {
	ka := buildTree(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--idle", "0"}, `keepalive: --idle "0" is out of range: want ` + shim.Rules[shim.VarIdle].Want},
		{[]string{"--interval", "6O"}, `keepalive: --interval "6O" is not a number or a duration: want ` + shim.Rules[shim.VarIntvl].Want},
		{[]string{"--count", "500"}, `keepalive: --count "500" is out of range: want ` + shim.Rules[shim.VarCnt].Want},
		{[]string{"--user-timeout", "1.5us"}, `keepalive: --user-timeout "1.5us" is not a whole number of the unit: want ` + shim.Rules[shim.VarUserTimeout].Want},
		{[]string{"--idle="}, `keepalive: --idle needs a value`},
		{[]string{"--lib", "/nonexistent/libkeepalive.so"}, `keepalive: --lib /nonexistent/libkeepalive.so: no such file or directory; nothing was run`},
		{[]string{"--bogus"}, `keepalive: flag provided but not defined: -bogus`},
	} {
		marker := filepath.Join(t.TempDir(), "ran")
		r := run{args: append(append([]string{ka}, tc.args...), "--", "touch", marker)}.exec(t)
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%v: the command ran", tc.args)
		}
		if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %s\nwant exit 2 and %q", tc.args, r, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	ka := buildTree(t)
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^VERSION := (\S+)`).FindSubmatch(mk)
	for _, arg := range []string{"--version", "-version", "version"} {
		r := run{args: []string{ka, arg}}.exec(t)
		if r.status != 0 || !regexp.MustCompile(`^keepalive \S+, built with go1\.\d+`).MatchString(r.stdout) {
			t.Errorf("%s: %s", arg, r)
		}
		// The Makefile's build carries its version; a test's own build
		// (no KEEPALIVE_CMD) cannot.
		if os.Getenv("KEEPALIVE_CMD") != "" && (want == nil || !strings.HasPrefix(r.stdout, "keepalive "+string(want[1])+",")) {
			t.Errorf("%s: %q, want the Makefile's VERSION %q", arg, r.stdout, want)
		}
	}
}

// LD_PRELOAD splits at spaces and colons: such a path is refused with
// status 2, by the wrapper and by check, and nothing runs.
func TestLibPathWithSpaceOrColon(t *testing.T) {
	ka := buildTree(t)
	for _, name := range []string{"a b", "a:b"} {
		dir := filepath.Join(t.TempDir(), name)
		os.Mkdir(dir, 0o755)
		l := filepath.Join(dir, "libkeepalive.so")
		copyFile(t, lib, l, 0o755)
		marker := filepath.Join(t.TempDir(), "ran")
		r := run{args: []string{ka, "--lib", l, "--", "touch", marker}}.exec(t)
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%q: the command ran", l)
		}
		want := "keepalive: --lib " + shim.Quote(l) + ": LD_PRELOAD splits paths at spaces and colons"
		if r.status.ExitStatus() != 2 || !strings.HasPrefix(r.stderr, want) {
			t.Errorf("wrapper, %q: %s\nwant exit 2 and %q", l, r, want)
		}
		r = run{args: []string{ka, "check", "--lib", l}}.exec(t)
		if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, "LD_PRELOAD splits paths at spaces and colons") {
			t.Errorf("check, %q: %s", l, r)
		}
		// The build tree itself under such a directory: the library found
		// next to the command is refused the same way.
		tree := filepath.Join(dir, "keepalive")
		copyFile(t, ka, tree, 0o755)
		r = run{args: []string{tree, "--", "touch", marker}}.exec(t)
		if _, err := os.Stat(marker); err == nil || r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, "keepalive: the library "+shim.Quote(l)) {
			t.Errorf("build tree at %q: %s", dir, r)
		}
	}
	// Control: the same library at a plain path runs the command.
	plain := filepath.Join(t.TempDir(), "libkeepalive.so")
	copyFile(t, lib, plain, 0o755)
	marker := filepath.Join(t.TempDir(), "ran")
	if r := (run{args: []string{ka, "--lib", plain, "--", "touch", marker}}).exec(t); r.status != 0 {
		t.Errorf("control: %s", r)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("control: the command did not run")
	}
}
