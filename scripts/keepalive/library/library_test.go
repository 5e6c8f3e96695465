package library

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The load test speaks only for programs of /bin/true's loader: which
// loader a program (or a script, through its #!) asks for.
func TestInterpreter(t *testing.T) {
	truePath := TrueProgram()
	if truePath == "" {
		t.Skip("SKIPPED LOUDLY: no /bin/true here to read a dynamic loader from")
	}
	loader := Interpreter(truePath)
	if !strings.HasPrefix(filepath.Base(loader), "ld-") {
		t.Fatalf("Interpreter(%s) = %q, want a dynamic loader", truePath, loader)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!"+truePath+" -x\necho hi\n"), 0o755)
	if got := Interpreter(script); got != loader {
		t.Errorf("a script run by %s: %q, want %q", truePath, got, loader)
	}
	loop := filepath.Join(dir, "loop")
	os.WriteFile(loop, []byte("#!"+loop+"\n"), 0o755)
	if got := Interpreter(loop); got != "" {
		t.Errorf("a script that names itself: %q, want none", got)
	}
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte("plain text\n"), 0o644)
	if got := Interpreter(text); got != "" {
		t.Errorf("a text file: %q, want none", got)
	}
}

// Where the library is found for a command in a tree laid out as the build,
// a package (Debian's multiarch, RPM's lib64) and make install lay it out;
// and the paths LD_PRELOAD cannot hold.
func TestFind(t *testing.T) {
	put := func(path string) {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, nil, 0o644)
	}
	build := t.TempDir()
	put(filepath.Join(build, "libkeepalive.so"))
	pkg := t.TempDir()
	os.MkdirAll(filepath.Join(pkg, "bin"), 0o755)
	put(filepath.Join(pkg, libDirs[runtime.GOARCH][0], "libkeepalive.so"))
	local := t.TempDir()
	os.MkdirAll(filepath.Join(local, "bin"), 0o755)
	put(filepath.Join(local, "lib", "libkeepalive.so"))
	empty := t.TempDir()
	for _, tc := range []struct{ dir, want string }{
		{build, filepath.Join(build, "libkeepalive.so")},
		{filepath.Join(pkg, "bin"), pkg + "/$LIB/libkeepalive.so"},
		{filepath.Join(local, "bin"), filepath.Join(local, "lib", "libkeepalive.so")},
		{empty, ""},
	} {
		got, err := nextTo(tc.dir)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("nextTo(%s) = %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
	spaced := filepath.Join(t.TempDir(), "a b", "libkeepalive.so")
	put(spaced)
	if _, err := Find(spaced); !errors.As(err, new(Unpreloadable)) {
		t.Errorf("Find(%q): %v, want Unpreloadable", spaced, err)
	}
	if _, err := Find(filepath.Join(empty, "none.so")); err == nil || !strings.Contains(err.Error(), "--lib") {
		t.Errorf("Find of a missing --lib: %v", err)
	}
}
