package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
	"github.com/libkeepalive/libkeepalive/shim/cparse/cparsetest"
)

// Every kind of path a user can name: Go's ReadFile and the library's C
// reader say the same words about each, and neither reads anything but a
// regular file.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	long := filepath.Join(dir, "long.conf")
	fifo := filepath.Join(dir, "fifo")
	locked := filepath.Join(dir, "locked.conf")
	os.WriteFile(good, []byte("KEEPIDLE=60\n"), 0o644)
	os.WriteFile(bad, []byte("root:$6$secret:19000:0:99999:7:::\nKEEPIDLE=abc\n"), 0o644)
	os.WriteFile(long, []byte(strings.Repeat("#\n", shim.FileMax)), 0o644)
	os.WriteFile(locked, []byte("KEEPIDLE=60\n"), 0o000)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		named      bool
		want       string // a word each line must hold; "" for no line
	}{
		{"regular", good, true, ""},
		{"missing, named", filepath.Join(dir, "nope.conf"), true, "does not exist"},
		{"missing, default", filepath.Join(dir, "nope.conf"), false, ""},
		{"directory", dir, true, "is a directory, not a regular file"},
		{"fifo without a writer", fifo, true, "is a FIFO, not a regular file"},
		{"character device", "/dev/null", true, "is a character device"},
		{"not a directory", filepath.Join(good, "x"), true, "cannot be read (not a directory)"},
		{"too long", long, true, "is longer than"},
		{"bad lines", bad, true, ":1 is not a setting"},
	} {
		gl := lines(shim.ReadFile(tc.path, tc.named).Problems)
		cl := cparsetest.Report(cparsetest.Read(tc.path, tc.named), nil)
		if strings.Join(gl, "\n") != strings.Join(cl, "\n") {
			t.Errorf("%s: Go and C differ:\nGo: %q\nC:  %q", tc.name, gl, cl)
		}
		if tc.want == "" && len(gl) > 0 || tc.want != "" && (len(gl) == 0 || !strings.Contains(gl[0], tc.want)) {
			t.Errorf("%s: got %q, want a line with %q", tc.name, gl, tc.want)
		}
		for _, l := range gl {
			if strings.Contains(l, "secret") || strings.Contains(l, "root:") {
				t.Errorf("%s: a line that is not a setting is quoted: %s", tc.name, l)
			}
		}
	}
	// Root reads a mode-000 file; anyone else gets the words for EACCES.
	if os.Geteuid() != 0 {
		if gl := lines(shim.ReadFile(locked, true).Problems); len(gl) != 1 || !strings.Contains(gl[0], "permission denied") {
			t.Errorf("unreadable: %q", gl)
		}
	}
}

func lines(ps []shim.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Message())
	}
	return out
}
