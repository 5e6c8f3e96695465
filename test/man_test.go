package test

// The man pages: the paths they name, and keepalive(1) against --help.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The paths the man pages name are the package's: each /usr path in the
// pages as `make deb` and `make install PREFIX=/usr/local` put them exists
// in that same installation.
func TestManPagePaths(t *testing.T) {
	need(t, "make")
	need(t, "man")
	need(t, "dpkg-deb")
	deb := t.TempDir()
	for _, pkg := range makeDeb(t) {
		if out, err := exec.Command("dpkg-deb", "-x", pkg, deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
		}
	}
	local := t.TempDir()
	if out, err := exec.Command("make", "-C", "..", "install", "DESTDIR="+local, "PREFIX=/usr/local").CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	path := regexp.MustCompile(`/(?:usr|opt|etc|proc)/[A-Za-z0-9._/*+-]*[A-Za-z0-9_*]`)
	for _, tc := range []struct{ root, prefix, ext string }{{deb, "/usr", ".gz"}, {local, "/usr/local", ""}} {
		for _, page := range []string{"man1/keepalive.1", "man8/libkeepalive.8"} {
			file := filepath.Join(tc.root, tc.prefix, "share/man", page+tc.ext)
			cmd := exec.Command("man", "-l", "-Tascii", "-P", "cat", file)
			cmd.Env = append(os.Environ(), "MANWIDTH=2000")
			text, err := cmd.Output()
			if err != nil {
				t.Fatalf("man %s: %v", file, err)
			}
			plain := regexp.MustCompile(".\b").ReplaceAllString(string(text), "")
			if tok := regexp.MustCompile(`@[A-Z]+@`).FindString(plain); tok != "" {
				t.Errorf("%s still says %s: the installation did not fill it in", file, tok)
			}
			// The packages' line serves every architecture ($LIB).
			lib := "'" + tc.prefix + "/lib/libkeepalive.so'"
			if tc.prefix == "/usr" {
				lib = "'/usr/$LIB/libkeepalive.so'"
			}
			if page == "man8/libkeepalive.8" && !strings.Contains(plain, "LD_PRELOAD="+lib) {
				t.Errorf("%s does not say LD_PRELOAD=%s", file, lib)
			}
			for _, p := range path.FindAllString(plain, -1) {
				switch {
				case p == "/etc/keepalive.conf" || p == "/etc/ld.so.preload" || strings.HasPrefix(p, "/proc/"):
					// the system's, not the package's
				case strings.HasPrefix(p, tc.prefix+"/"):
					if _, err := os.Stat(filepath.Join(tc.root, p)); err != nil {
						t.Errorf("%s names %s, which the installation (PREFIX=%s) does not have", page, p, tc.prefix)
					}
				default:
					t.Errorf("%s names %s, outside the installation's prefix %s", page, p, tc.prefix)
				}
			}
		}
	}
}

// --help and keepalive(1) list the same options, the command accepts each
// of them, and the exit statuses keepalive(1) gives are the command's.
func TestHelpAndManAgree(t *testing.T) {
	need(t, "man")
	ka := buildTree(t)
	help := run{args: []string{ka, "--help"}}.exec(t)
	cmd := exec.Command("man", "-l", "-Tascii", "-P", "cat", "../scripts/man/keepalive.1")
	cmd.Env = append(os.Environ(), "MANWIDTH=2000")
	page, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	plain := regexp.MustCompile(".\b").ReplaceAllString(string(page), "")
	opt := regexp.MustCompile(`(?m)(?:^|[\s\[(])(--[a-z][a-z-]*)`)
	set := func(text string) map[string]bool {
		m := map[string]bool{}
		for _, o := range opt.FindAllStringSubmatch(text, -1) {
			m[o[1]] = true
		}
		return m
	}
	cgroupHelp := run{args: []string{ka, "cgroup", "--help"}}.exec(t)
	applyHelp := run{args: []string{ka, "apply", "--help"}}.exec(t)
	// check's --to is in check's own usage only.
	checkHelp := run{args: []string{ka, "check", "--help"}}.exec(t)
	inHelp, inMan := set(help.stdout+cgroupHelp.stdout+applyHelp.stdout+checkHelp.stdout), set(plain)
	for o := range inHelp {
		if !inMan[o] {
			t.Errorf("--help lists %s, keepalive(1) does not", o)
		}
	}
	for o := range inMan {
		if !inHelp[o] {
			t.Errorf("keepalive(1) lists %s, --help does not", o)
		}
	}
	if len(inHelp) < 10 {
		t.Fatalf("only %d options found in --help: %v", len(inHelp), inHelp)
	}
	// Each is an option of one of the forms (the cgroup forms' have tests
	// of their own).
	for o := range set(help.stdout) {
		var args []string
		switch o {
		case "--config":
			args = []string{"check", o, "/dev/null"}
		case "--to":
			args = []string{"check", o, "10.0.0.1:5432"}
		case "--timers", "--json":
			args = []string{"status", o}
		case "--textfile":
			args = []string{"metrics", o, t.TempDir()}
		case "--help", "--version", "--off", "--debug":
			args = []string{o, "--", "true"}
		case "--lib":
			args = []string{o, lib, "--", "true"}
		default:
			args = []string{o, "5", "--", "true"}
		}
		if r := (run{args: append([]string{ka}, args...)}).exec(t); strings.Contains(r.stderr, "not defined") || strings.Contains(r.stderr, "usage") {
			t.Errorf("%v: %s", args, r)
		}
	}
	notExec := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(notExec, bytes.Repeat([]byte{0xff}, 64), 0o755)
	for _, tc := range []struct {
		args   []string
		status int
	}{
		{[]string{"status", "abc"}, 2},
		{[]string{"status", "1", "2"}, 2},
		{[]string{"status", "999999999"}, 1},
		{[]string{"status"}, 0},
		{[]string{"apply", "--idle", "0", "1"}, 2},
		{[]string{"apply"}, 2},
		{[]string{"apply", "999999999"}, 1},
		{[]string{"check", "--bogus"}, 2},
		{[]string{"check", "--lib", "/nonexistent/libkeepalive.so"}, 1},
		{[]string{"--idle", "0", "--", "true"}, 2},
		{[]string{"--", "no-such-command-here"}, 127},
		{[]string{"--", notExec}, 126},
	} {
		if r := (run{args: append([]string{ka}, tc.args...)}).exec(t); r.status.ExitStatus() != tc.status {
			t.Errorf("%v: %s\nwant exit %d, as keepalive(1) says", tc.args, r, tc.status)
		}
	}
	for _, want := range []string{"2 for an argument that is not a process ID", "127 when it is not found", "1 when there is a problem"} {
		if !strings.Contains(strings.Join(strings.Fields(plain), " "), want) {
			t.Errorf("keepalive(1) does not say %q", want)
		}
	}
}

// --help works for every subcommand and each verb of cgroup: exit 0, the
// subcommand's own usage on stdout, nothing on stderr. The control: a
// subcommand given an unknown option exits 2.
func TestHelpEverySubcommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"status", "--help"}, {"status", "-h"}, {"check", "--help"}, {"metrics", "--help"}, {"apply", "--help"},
		{"cgroup", "--help"}, {"cgroup", "attach", "--help"}, {"cgroup", "detach", "--help"}, {"cgroup", "status", "--help"},
		{"cgroup", "load", "--help"}, {"cgroup", "unload", "--help"},
	} {
		r := run{args: append([]string{command}, args...)}.exec(t)
		word := "keepalive"
		if len(args) > 1 {
			word = "keepalive " + args[0]
		}
		if r.status != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: "+word) {
			t.Errorf("%v: want exit 0 and usage: %s... on stdout, got %s", args, word, r)
		}
	}
	for _, sub := range []string{"status", "check", "metrics", "apply"} {
		if r := (run{args: []string{command, sub, "--no-such-option"}}).exec(t); r.status.ExitStatus() != 2 {
			t.Errorf("control: %s --no-such-option: %s, want exit 2", sub, r)
		}
	}
}
