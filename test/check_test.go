package test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

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
	plain := filepath.Join(bin, "libplain.so")
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
