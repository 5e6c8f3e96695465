package test

// Safe inside the host: secure execution (set-ID programs).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

// In a secure-execution process (here setgid) glibc loads a preload only
// from a standard directory and only if it is set-user-ID; the library then
// keeps KEEPALIVE_DEBUG off and says so once, while the timers still apply.
func TestSafetySecureExecution(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the setgid case needs root to install a set-user-ID preload")
	}
	libdir := "/usr/lib"
	name := fmt.Sprintf("libkeepalive-test-%d.so", os.Getpid())
	installed := filepath.Join(libdir, name)
	copyFile(t, lib, installed, os.ModeSetuid|0o755)
	t.Cleanup(func() { os.Remove(installed) })

	// A setgid copy of the sockets driver, in a directory others can reach.
	dir, err := os.MkdirTemp("/tmp", "libkeepalive-setgid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	prog := filepath.Join(dir, "sockets")
	copyFile(t, program("sockets"), prog, 0o755)
	if err := os.Chown(prog, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, os.ModeSetgid|0o755); err != nil {
		t.Fatal(err)
	}

	env := append([]string{"KEEPALIVE_DEBUG=1"}, tuned...)
	cmd := exec.Command(prog)
	cmd.Env = append(append(baseEnv(), env...), "LD_PRELOAD="+name)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errb.String())
	}
	s := line(out.String(), "inet_stream")
	if s["ka"] != "1" {
		t.Fatalf("the set-user-ID preload was not loaded into the setgid program (%v); stderr %q", s, errb.String())
	}
	wantTuned(t, "setgid inet_stream", s, "3000")
	want := shim.MsgSecureDebug
	if got := strings.TrimSpace(errb.String()); got != want {
		t.Errorf("stderr %q, want only %q", got, want)
	}

	// The control: the same program, not setgid, prints debug lines.
	r := run{preload: true, env: env, args: []string{"sockets"}}.exec(t)
	if !strings.Contains(r.stderr, "libkeepalive: socket fd ") {
		t.Errorf("without setgid, KEEPALIVE_DEBUG=1 printed no debug line; the case proves nothing: %q", r.stderr)
	}
}
