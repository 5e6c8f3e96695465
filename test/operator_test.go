package test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libkeepalive/libkeepalive/shim"
)

const pyProbe = `import os, socket
s = socket.socket()
g = s.getsockopt
print(g(socket.SOL_SOCKET, socket.SO_KEEPALIVE), g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
      g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT), g(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
print(os.environ.get("LD_PRELOAD", ""))
`

// buildTree lays out the command next to the library, as the build tree
// has them.
func buildTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, command, filepath.Join(dir, "keepalive"), 0o755)
	copyFile(t, lib, filepath.Join(dir, "libkeepalive.so"), 0o755)
	return filepath.Join(dir, "keepalive")
}

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
	if r := (run{args: []string{ka, "--help"}}).exec(t); r.status != 0 || !strings.Contains(r.stdout, "keepalive status PID") {
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

// keepalive status on a live process, with and without the library.
func TestStatus(t *testing.T) {
	py := python(t)
	ka := buildTree(t)
	server := `import socket, sys
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen()
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
print("ready", flush=True)
sys.stdin.readline()
`
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

// make install into a DESTDIR, the installed command finding the installed
// library, the man pages, and make uninstall.
func TestInstall(t *testing.T) {
	need(t, "make")
	dest := t.TempDir()
	prefix := "/opt/libkeepalive-test"
	makeIn := func(target string) {
		t.Helper()
		out, err := exec.Command("make", "-C", "..", target, "DESTDIR="+dest, "PREFIX="+prefix).CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	makeIn("install")
	root := dest + prefix
	files := installedFiles(t, "", false, false)
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	dropIn, _ := os.ReadFile(filepath.Join(root, "share/libkeepalive/systemd-keepalive.conf"))
	if !strings.Contains(string(dropIn), "Environment=LD_PRELOAD="+prefix+"/lib/libkeepalive.so") {
		t.Errorf("drop-in: %s", dropIn)
	}
	py := python(t)
	r := run{args: []string{filepath.Join(root, "bin/keepalive"), "--idle", "61", "--", py, "-c", pyProbe}}.exec(t)
	if want := "1 61 "; !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, root+"/lib/libkeepalive.so") {
		t.Errorf("installed command: %s", r)
	}
	// Man pages: no warnings, and the library's lists every variable with its range.
	need(t, "man")
	for _, page := range []string{"share/man/man1/keepalive.1", "share/man/man8/libkeepalive.8"} {
		out, err := exec.Command("man", "--warnings", "-l", "-Tutf8", filepath.Join(root, page)).CombinedOutput()
		if err != nil || strings.Contains(string(out), "warning") {
			t.Errorf("man %s: %v\n%s", page, err, out)
		}
	}
	text, _ := exec.Command("man", "-l", "-Tutf8", "-P", "cat", filepath.Join(root, "share/man/man8/libkeepalive.8")).Output()
	plain := strings.Join(strings.Fields(regexp.MustCompile(".\b").ReplaceAllString(string(text), "")), " ")
	for _, r := range shim.Rules {
		rng := fmt.Sprintf("%d to %d", r.Min, r.Max)
		if r.Kind == shim.KindSwitch {
			rng = "on or off"
		} else if r.Kind == shim.KindMode {
			rng = "on, off or force"
		} else if r.Kind == shim.KindMillis {
			rng = fmt.Sprintf("%d to %d", r.Min, r.Max/1000)
		}
		if !strings.Contains(plain, r.Var) || !strings.Contains(plain, rng) {
			t.Errorf("libkeepalive(8) lacks %s or its range %q", r.Var, rng)
		}
	}
	makeIn("uninstall")
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			t.Errorf("left after uninstall: %s", f)
		}
	}
}

// makeDeb runs make deb and returns the one package it leaves in build/.
func makeDeb(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("make", "-C", "..", "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob("../build/libkeepalive_*.deb")
	if len(debs) != 1 {
		t.Fatalf("want one .deb in build/, have %v", debs)
	}
	return debs[0]
}

func TestDebianPackage(t *testing.T) {
	need(t, "dpkg-deb")
	deb := makeDeb(t)
	contents, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := installedFiles(t, "./usr", true, true)
	for _, f := range want {
		if !strings.Contains(string(contents), f+"\n") {
			t.Errorf("the package lacks %s:\n%s", f, contents)
		}
	}
	// And nothing the list does not name.
	for _, l := range strings.Split(string(contents), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") && !slices.Contains(want, f[len(f)-1]) {
			t.Errorf("the package holds %s, which the Makefile's list of installed files does not name", f[len(f)-1])
		}
	}
	info, _ := exec.Command("dpkg-deb", "--field", deb, "Package", "Architecture").Output()
	if !strings.Contains(string(info), "Package: libkeepalive") {
		t.Errorf("control: %s", info)
	}
	t.Logf("%s:\n%s", deb, contents)
}
