package test

// make install and make uninstall, and the one list of installed files
// (the Makefile's INSTALLED, read with `make -s installed-files`).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

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

// The Makefile's one list of installed files (make -s installed-files),
// read once: each line is "install PATH" (every installation has it) or
// "package PATH" (the release artifacts add it), PATH under the prefix.
var installList = sync.OnceValues(func() ([][2]string, error) {
	out, err := exec.Command("make", "-s", "--no-print-directory", "-C", "..", "installed-files").Output()
	if err != nil {
		return nil, fmt.Errorf("make -s installed-files: %v", err)
	}
	var list [][2]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		where, path, ok := strings.Cut(l, " ")
		if !ok || where != "install" && where != "package" || path == "" {
			return nil, fmt.Errorf("make -s installed-files: bad line %q in\n%s", l, out)
		}
		list = append(list, [2]string{where, path})
	}
	return list, nil
})

// installedFiles: what an installation holds below prefix, from the one
// list; with the release artifacts' own files if packaged, and the man
// pages compressed if gz (as the packages have them).
func installedFiles(t testing.TB, prefix string, packaged, gz bool) []string {
	t.Helper()
	list, err := installList()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range list {
		if f[0] == "package" && !packaged {
			continue
		}
		path := prefix + "/" + f[1]
		if gz && strings.HasPrefix(f[1], "share/man/") {
			path += ".gz"
		}
		files = append(files, path)
	}
	return files
}
