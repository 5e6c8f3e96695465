package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

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

// checkRows reads keepalive check's table: variable -> value, from.
func checkRows(out string) map[string][2]string {
	rows := map[string][2]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && strings.HasPrefix(f[0], "KEEP") {
			rows[f[0]] = [2]string{f[1], strings.Join(f[2:], " ")}
		}
	}
	return rows
}

func sysctl(t testing.TB, name string) string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// keepalive check names each setting's value and source, and says what the
// library says: its problem lines are the very lines a program run under
// the library with the same environment and file prints.
func TestCheck(t *testing.T) {
	ka := buildTree(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	os.WriteFile(good, []byte("# defaults\nKEEPIDLE = 61\nKEEPALIVE_EXCLUDE=java\n"), 0o644)
	r := run{env: []string{"KEEPCNT=4"}, args: []string{ka, "check", "--config", good}}.exec(t)
	rows := checkRows(r.stdout)
	if r.status != 0 || rows["KEEPIDLE"] != [2]string{"61s", good + ":2"} || rows["KEEPCNT"] != [2]string{"4", "environment"} ||
		rows["KEEPINTVL"] != [2]string{sysctl(t, "tcp_keepalive_intvl") + "s", "kernel default (/proc/sys/net/ipv4/tcp_keepalive_intvl)"} ||
		rows["KEEPALIVE_EXCLUDE"][1] != good+":3" || !strings.Contains(r.stdout, "loads on this system") {
		t.Errorf("a clean configuration: %s", r)
	}
	// The same through KEEPALIVE_CONFIG.
	r = run{env: []string{"KEEPALIVE_CONFIG=" + good}, args: []string{ka, "check"}}.exec(t)
	if rows := checkRows(r.stdout); r.status != 0 || rows["KEEPIDLE"][0] != "61s" || rows["KEEPCNT"][0] != sysctl(t, "tcp_keepalive_probes") {
		t.Errorf("KEEPALIVE_CONFIG: %s", r)
	}

	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("KEEPIDLE=60\nKEEPCNT=x\nsecret line\nKEEPINTVL=5\n"), 0o644)
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"a bad file and a bad variable", []string{"KEEPALIVE_CONFIG=" + bad, "KEEPINTVL=abc", "KEEPUSERTIMEOUT=3"}},
		{"a missing file named", []string{"KEEPALIVE_CONFIG=" + filepath.Join(dir, "no-such.conf")}},
		{"a directory named", []string{"KEEPALIVE_CONFIG=" + dir}},
		{"a bad switch", []string{"KEEPALIVE=maybe"}},
	} {
		r := run{env: tc.env, args: []string{ka, "check"}}.exec(t)
		var said []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, shim.Prefix) {
				said = append(said, l)
			}
		}
		// The library's own words, from a real program.
		lib := run{preload: true, env: tc.env, args: []string{"true"}}.exec(t)
		libSaid := strings.Split(strings.TrimSuffix(lib.stderr, "\n"), "\n")
		if r.status.ExitStatus() != 1 || len(said) == 0 || strings.Join(said, "\n") != strings.Join(libSaid, "\n") {
			t.Errorf("%s: check and the library differ\ncheck: %s\nlibrary's stderr:\n%s", tc.name, r, lib.stderr)
		}
	}
	r = run{env: []string{"KEEPALIVE_CONFIG=" + bad, "KEEPINTVL=abc"}, args: []string{ka, "check"}}.exec(t)
	rows = checkRows(r.stdout)
	if rows["KEEPIDLE"] != [2]string{"60s", bad + ":1"} || !strings.HasPrefix(rows["KEEPINTVL"][1], "kernel default") ||
		!strings.Contains(rows["KEEPINTVL"][1], "environment gave a value that is refused") ||
		!strings.Contains(rows["KEEPCNT"][1], bad+":2 gave a value that is refused") {
		t.Errorf("sources of refused values: %s", r)
	}
}

// A library the loader refuses: keepalive check says so in the loader's
// words, and the wrapper refuses to start the command (status 2) instead of
// letting the loader end it.
func TestLoadCheck(t *testing.T) {
	ka := buildTree(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "v.c")
	os.WriteFile(src, []byte("#include <stdio.h>\nvoid ka_probe(void) { puts(\"x\"); }\n"), 0o644)
	plain := filepath.Join(dir, "plain.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", plain, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	// The same library needing a glibc that does not exist, as a library
	// built on a newer system needs GLIBC_2.34 on an older one.
	elf, _ := os.ReadFile(plain)
	const have, fake = "GLIBC_2.2.5", "GLIBC_9.2.5"
	if !bytes.Contains(elf, []byte(have)) {
		t.Fatalf("%s does not name %s; the case needs another version string", plain, have)
	}
	newer := filepath.Join(dir, "newer.so")
	os.WriteFile(newer, bytes.ReplaceAll(elf, []byte(have), []byte(fake)), 0o755)
	notELF := filepath.Join(dir, "text.so")
	os.WriteFile(notELF, bytes.Repeat([]byte("not a library\n"), 100), 0o755)

	marker := filepath.Join(dir, "ran")
	// Control: the loader takes the unpatched library, and the command runs.
	r := run{args: []string{ka, "--lib", plain, "--", "touch", marker}}.exec(t)
	if _, err := os.Stat(marker); err != nil || r.status != 0 {
		t.Fatalf("control: the command did not run under a library the loader takes: %s", r)
	}
	os.Remove(marker)
	for _, tc := range []struct{ lib, words string }{
		{newer, "version `" + fake + "' not found"},
		{notELF, "invalid ELF header"},
	} {
		// What the loader does without the check.
		raw := run{env: []string{"LD_PRELOAD=" + tc.lib}, args: []string{"true"}}.exec(t)
		if !strings.Contains(raw.stderr, tc.words) {
			t.Fatalf("the loader, given %s, does not say %q: %s", tc.lib, tc.words, raw)
		}
		r := run{args: []string{ka, "--lib", tc.lib, "--", "touch", marker}}.exec(t)
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%s: the command ran", tc.lib)
			os.Remove(marker)
		}
		if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, "keepalive: the loader refuses "+tc.lib) ||
			!strings.Contains(r.stderr, tc.words) || !strings.HasSuffix(r.stderr, "; nothing was run\n") {
			t.Errorf("wrapper with %s: %s", tc.lib, r)
		}
		r = run{args: []string{ka, "check", "--lib", tc.lib}}.exec(t)
		if r.status.ExitStatus() != 1 || !strings.Contains(r.stdout, "does not load on this system") || !strings.Contains(r.stdout, tc.words) {
			t.Errorf("check with %s: %s", tc.lib, r)
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
	inHelp, inMan := set(help.stdout+cgroupHelp.stdout), set(plain)
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
		case "--timers":
			args = []string{"status", o}
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

// A library built for musl is for musl programs: check says that the
// system's /bin/true (glibc's loader) cannot try it, instead of calling the
// loader's refusal a failure. The wrapper's own use of it is TestMusl.
func TestCheckMuslLibrary(t *testing.T) {
	musl := os.Getenv("KEEPALIVE_LIB_MUSL")
	if musl == "" {
		t.Skip("SKIPPED LOUDLY: KEEPALIVE_LIB_MUSL is not set; `make test` builds the musl library and sets it")
	}
	ka := buildTree(t)
	r := run{args: []string{ka, "check", "--lib", musl}}.exec(t)
	if r.status != 0 || !strings.Contains(r.stdout, "is built for musl") {
		t.Errorf("check of the musl library: %s", r)
	}
	// The control: the loader of this system does refuse it in /bin/true.
	if raw := (run{env: []string{"LD_PRELOAD=" + musl}, args: []string{"/bin/true"}}).exec(t); raw.status == 0 && raw.stderr == "" {
		t.Errorf("control: /bin/true runs cleanly under the musl library, so the case proves nothing: %s", raw)
	}
}
