package test

// Safe inside the host (one of several safety_*_test.go files; every
// host-safety test is named TestSafety..., and make test-safety runs them):
// forks, threads, daemons, set-ID programs, descriptors, dlopen, crashes, the
// runtime that never starts, and sockets made before main.

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

// While the host runs, the library's runtime creates no descriptor: any it
// did could be one the host is closing and reopening at that moment. Read
// from the kernel's side with strace: only the host's own thread may make
// descriptors (the dynamic loader's, the driver's).
func TestSafetyRuntimeMakesNoDescriptors(t *testing.T) {
	need(t, "strace")
	forModes(t, testRuntimeMakesNoDescriptors)
}

func testRuntimeMakesNoDescriptors(t *testing.T, m mode) {
	for _, preload := range []bool{false, true} {
		trace := filepath.Join(t.TempDir(), "trace")
		args := []string{"strace", "-f", "-qq", "-o", trace, "-e",
			"trace=open,openat,creat,socket,pipe,pipe2,eventfd,eventfd2,epoll_create,epoll_create1,memfd_create,dup,dup2,dup3,signalfd,signalfd4,timerfd_create,inotify_init1",
			program("launch"), "-n"}
		if preload {
			args = append(args, "-p", lib)
		}
		r := run{env: m.env, args: append(args, program("safety"), "fds")}.exec(t)
		passed(t, "strace", r)
		if preload {
			m.check(t, r)
		}
		b, err := os.ReadFile(trace)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		main, _, _ := strings.Cut(lines[0], " ")
		own := 0
		for _, l := range lines {
			pid, call, _ := strings.Cut(l, " ")
			if pid != main {
				if !strings.Contains(call, "exited") && !strings.Contains(call, "resumed") {
					t.Errorf("preload %v: thread %s made a descriptor: %s", preload, pid, call)
				}
				continue
			}
			own++
		}
		if own == 0 {
			t.Fatalf("no descriptor calls seen at all; the trace proves nothing:\n%s", b)
		}
	}
}

// The Go runtime never starts, so the limits a running Go runtime brings
// do not apply, clean or reporting: a user namespace can be created (a
// multi-threaded process cannot), and a low address-space limit is no
// problem.
func TestSafetyResidualLimits(t *testing.T) {
	need(t, "unshare")
	if r := (run{args: []string{"unshare", "-U", "true"}}).exec(t); r.status != 0 {
		if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err != nil || strings.TrimSpace(string(b)) == "0" {
			t.Skipf("SKIPPED LOUDLY: no user namespaces here (/proc/sys/user/max_user_namespaces is 0 or missing); unshare -U without the library: %s", r)
		}
		if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); os.Geteuid() != 0 && err == nil && strings.TrimSpace(string(b)) == "0" {
			t.Skipf("SKIPPED LOUDLY: not root and kernel.unprivileged_userns_clone=0: unshare -U without the library: %s", r)
		}
		t.Fatalf("unshare -U fails even without the library, though user namespaces are on: %s", r)
	}
	forModes(t, func(t *testing.T, m mode) {
		r := run{preload: true, env: m.env, args: []string{"unshare", "-U", "true"}}.exec(t)
		if r.status != 0 {
			t.Errorf("unshare -U fails under the library: %s", r)
		}
		m.check(t, r)
	})
}

// A socket opened by a library constructor that runs before ours, and one
// opened in main's first statement, are configured.
func TestSafetyEarlySockets(t *testing.T) {
	control, shimmed := pair(t, tuned, "early")
	for _, which := range []string{"constructor", "main"} {
		wantUntouched(t, which, line(control.stdout, which))
		wantTuned(t, which, line(shimmed.stdout, which), "3000")
	}
	// Prove the case: the loader ran libearly's constructor before ours.
	dbg := run{preload: true, env: append([]string{"LD_DEBUG=files"}, tuned...), args: []string{"early"}}.exec(t)
	early := strings.Index(dbg.stderr, "calling init: "+bin+"/libearly.so")
	ours := strings.Index(dbg.stderr, "calling init: "+lib)
	if early < 0 || ours < 0 || early > ours {
		t.Errorf("libearly.so's constructor did not run before libkeepalive's (positions %d, %d); the case proves nothing:\n%s", early, ours, dbg.stderr)
	}
}
