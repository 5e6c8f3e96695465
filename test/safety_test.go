package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The forking and threading cases: nothing hangs (every run is bounded),
// children configure their sockets, and the counts are the control's.
func TestSafetyForkAndThreads(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		control string
		shim    string
	}{
		{"fork", "children=20 child_ka=0", "children=20 child_ka=20"},
		{"fork-mt", "children=100 child_ka=0 thread_sockets_all_ka=0", "children=100 child_ka=100 thread_sockets_all_ka=1"},
		{"threads-fork", "sockets=8000 ka=0 children=50 child_ka=0", "sockets=8000 ka=8000 children=50 child_ka=50"},
		{"sighandler", "handler_all_ka=0 main_all_ka=0 main_none_ka=1 handler_none_ka=1 errno_bad=0",
			"handler_all_ka=1 main_all_ka=1 main_none_ka=0 handler_none_ka=0 errno_bad=0"},
		{"sighandler-altstack", "handler_all_ka=0 main_all_ka=0 main_none_ka=1 handler_none_ka=1 errno_bad=0",
			"handler_all_ka=1 main_all_ka=1 main_none_ka=0 handler_none_ka=0 errno_bad=0"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			forModes(t, func(t *testing.T, m mode) {
				control, shimmed := pair(t, append(m.env, tuned...), "safety", tc.mode)
				passed(t, "control", control)
				passed(t, "with the library", shimmed)
				m.check(t, shimmed)
				if got := firstLine(control.stdout); got != tc.control {
					t.Errorf("control: %q, want %q", got, tc.control)
				}
				if got := firstLine(shimmed.stdout); got != tc.shim {
					t.Errorf("with the library: %q, want %q", got, tc.shim)
				}
			})
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// A classic daemon: double fork, setsid, every descriptor closed, then
// sockets. It gets descriptor 0, as without the library, and keepalive.
func TestSafetyDoubleForkDaemon(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) { testDaemon(t, m) })
}

func testDaemon(t *testing.T, m mode) {
	for _, preload := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "result")
		r := run{preload: preload, env: append(m.env, tuned...), args: []string{"safety", "daemon", out}}.exec(t)
		if preload {
			m.check(t, r)
		}
		passed(t, "daemon parent", r)
		var got []byte
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got, _ = os.ReadFile(out); strings.HasSuffix(string(got), "\n") {
				break
			}
		}
		want := "daemon fd=0 ka=0 ka6=0\n"
		if preload {
			want = "daemon fd=0 ka=1 ka6=1\n"
		}
		if string(got) != want {
			t.Errorf("preload %v: daemon wrote %q, want %q", preload, got, want)
		}
	}
}

// setuid in a multi-threaded host reaches every thread, the runtime's too.
func TestSafetySetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: setuid cases need root")
	}
	for _, call := range []string{"setuid", "setresuid"} {
		t.Run(call, func(t *testing.T) {
			forModes(t, func(t *testing.T, m mode) {
				control, shimmed := pair(t, append(m.env, tuned...), "safety", call)
				passed(t, "control", control)
				passed(t, "with the library", shimmed)
				m.check(t, shimmed)
				if got := firstLine(control.stdout); got != "ret=0 all_switched=1 ka=0" {
					t.Errorf("control: %q", got)
				}
				if got := firstLine(shimmed.stdout); got != "ret=0 all_switched=1 ka=1" {
					t.Errorf("with the library: %q (%s)", got, shimmed.stderr)
				}
			})
		})
	}
}

// vfork, posix_spawn, system and popen children run and exit as without the
// library.
func TestSafetySpawn(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		control, shimmed := pair(t, append(m.env, tuned...), "safety", "spawn")
		passed(t, "control", control)
		m.check(t, shimmed)
		if control.stdout != shimmed.stdout || control.status != shimmed.status {
			t.Errorf("spawned children differ:\nwithout:\n%s\nwith:\n%s", control, shimmed)
		}
	})
}

// The library holds no descriptor of the host's, even when the host's
// standard descriptors are non-blocking at load time (Go's os package would
// put them in an epoll set of its own).
func TestSafetyNoDescriptorsHeld(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		for _, flags := range [][]string{nil, {"-n"}} {
			control := run{env: m.env, args: append(append([]string{"launch"}, flags...), program("safety"), "fds")}.exec(t)
			shimmed := run{env: m.env, args: append(append([]string{"launch"}, flags...), "-p", lib, program("safety"), "fds")}.exec(t)
			passed(t, "control", control)
			m.check(t, shimmed)
			if control.stdout != shimmed.stdout {
				t.Errorf("launch %v: descriptors differ:\nwithout:\n%s\nwith:\n%s", flags, control.stdout, shimmed.stdout)
			}
		}
	})
}

func TestSafetyDlopen(t *testing.T) {
	// The control loads a plain C library; socket() found through it is
	// libc's.
	control := run{env: tuned, args: []string{"dlopen", filepath.Join(bin, "libearly.so")}}.exec(t)
	passed(t, "control", control)
	if got := firstLine(control.stdout); got != "loaded=1 again=1 child=7 direct_socket_ka=0" {
		t.Errorf("control: %q", got)
	}
	forModes(t, func(t *testing.T, m mode) {
		r := run{env: append(m.env, tuned...), args: []string{"dlopen", lib}, timeout: 20 * time.Second}.exec(t)
		passed(t, "dlopen of the library", r)
		m.check(t, r)
		if got := firstLine(r.stdout); got != "loaded=1 again=1 child=7 direct_socket_ka=1" {
			t.Errorf("dlopen: %q", got)
		}
		if want := expectedMessages(m.env); strings.Join(stderrLines(r.stderr), "\n") != strings.Join(want, "\n") {
			t.Errorf("stderr %q, want %q", r.stderr, want)
		}
	})
}

// Ends of a host: the same wait status with and without the library.
func TestSafetyCrashStatus(t *testing.T) {
	for _, ending := range []string{"segv", "segv-thread", "abort", "fpe", "sigpipe", "sigterm", "kill-self", "exit42", "return7"} {
		t.Run(ending, func(t *testing.T) {
			forModes(t, func(t *testing.T, m mode) {
				control, shimmed := pair(t, append(m.env, tuned...), "crash", ending)
				m.check(t, shimmed)
				if control.status != shimmed.status {
					t.Errorf("%s: %s without the library, %s with it", ending, describeStatus(control.status), describeStatus(shimmed.status))
				}
				if control.status.ExitStatus() == 99 {
					t.Errorf("%s: the driver did not do what it was asked", ending)
				}
			})
		})
	}
}
