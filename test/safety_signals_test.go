package test

// Safe inside the host: signals.

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A daemon that blocks SIGTERM, SIGHUP, SIGUSR1 and SIGRTMIN and reads them
// itself gets every one and is not killed by any.
func TestSafetySignalDaemons(t *testing.T) {
	sigrtmin := syscall.Signal(34) // glibc's SIGRTMIN
	for _, reader := range []string{"signalfd", "sigwait"} {
		for _, preload := range []bool{false, true} {
			for _, m := range modes {
				t.Run(fmt.Sprintf("%s/preload=%v/%s", reader, preload, m.name), func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					cmd := run{preload: preload, env: m.env, args: []string{"signals", reader}}.command(ctx)
					stderr := signalExchange(t, ctx, cmd, []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, sigrtmin},
						"done hup=3 usr1=3 rtmin=3")
					if preload {
						m.check(t, result{stderr: stderr})
					}
				})
			}
		}
	}
}

// signalExchange starts cmd, a `signals signalfd` or `signals sigwait`
// daemon, sends each of sigs three times, one at a time, then SIGTERM, and
// insists on every one being read and on the daemon's tally being want. It
// returns the daemon's stderr.
func signalExchange(t *testing.T, ctx context.Context, cmd *exec.Cmd, sigs []syscall.Signal, want string) string {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) string {
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), prefix) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("waiting for %q: got %q; %s %s", prefix, lines.Text(), cmd.ProcessState, stderr.String())
		}
		return lines.Text()
	}
	expect("READY")
	for i := 0; i < 3; i++ {
		for _, sig := range sigs {
			cmd.Process.Signal(sig)
			expect("got " + strconv.Itoa(int(sig)))
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := expect("done")
	expect("PASS")
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("hung")
	}
	if err != nil || done != want {
		t.Errorf("%v, %q, want %q", err, done, want)
	}
	return stderr.String()
}

// A host that reads SIGCHLD from a signalfd gets one for every child.
func TestSafetySigchldSignalfd(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		control, shimmed := pair(t, m.env, "signals", "sigchld")
		m.check(t, shimmed)
		for _, r := range []result{control, shimmed} {
			passed(t, "sigchld", r)
			if got := firstLine(r.stdout); got != "children=200 seen=200" {
				t.Errorf("%q", got)
			}
		}
	})
}

// coreutils timeout(1) waits for SIGCHLD in sigsuspend; with SIGCHLD
// delivered to a runtime thread it misses the exit of its child and only
// returns when its own timer fires (status 124). Measured with an empty Go
// library: about 3 runs in 100.
func TestSafetyTimeoutCommand(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Fatal("coreutils timeout is not installed")
	}
	forModes(t, func(t *testing.T, m mode) {
		for _, preload := range []bool{false, true} {
			missed := 0
			for i := 0; i < 300; i++ {
				r := run{preload: preload, env: m.env, args: []string{"timeout", "3", "true"}}.exec(t)
				if r.status.ExitStatus() != 0 {
					missed++
				}
				if preload && i == 0 {
					m.check(t, r)
				}
			}
			if missed > 0 {
				t.Errorf("preload %v: timeout 3 true failed %d times in 300", preload, missed)
			}
		}
	})
}

// The Go runtime never starts in a host, whether the configuration is clean
// or has something to report: no thread but the host's, and the host's
// thread keeps the mask it was started with. This is what fails first if
// the overlay stops working (say, after a Go upgrade).
func TestSafetyNoRuntimeThreads(t *testing.T) {
	forModes(t, testNoRuntimeThreads)
}

func testNoRuntimeThreads(t *testing.T, m mode) {
	// launch starts the host with SIGUSR2 (12) blocked, as a supervisor may.
	control := run{env: m.env, args: []string{"launch", "-b", "12", program("signals"), "masks"}}.exec(t)
	shimmed := run{env: m.env, args: []string{"launch", "-b", "12", "-p", lib, program("signals"), "masks"}}.exec(t)
	passed(t, "control", control)
	passed(t, "with the library", shimmed)
	m.check(t, shimmed)
	if a, b := rawLine(control.stdout, "task main"), rawLine(shimmed.stdout, "task main"); a == "" || a != b {
		t.Errorf("the host's thread mask changed:\nwithout: %s\n   with: %s", a, b)
	}
	if n := strings.Count(control.stdout, "task other"); n != 0 {
		t.Fatalf("control: %d threads besides the host's; the driver should have none:\n%s", n, control.stdout)
	}
	if n := strings.Count(shimmed.stdout, "task other"); n != 0 {
		t.Errorf("mode %s: %d threads besides the host's; the Go runtime started:\n%s", m.name, n, shimmed.stdout)
	}
}

// The library changes no signal disposition of the host, clean or
// reporting: the runtime's handlers are never installed.
func TestSafetySignalDispositions(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		control, shimmed := pair(t, m.env, "signals", "dispositions")
		passed(t, "control", control)
		m.check(t, shimmed)
		if control.stdout != shimmed.stdout {
			t.Errorf("dispositions changed:\nwithout:\n%s\nwith:\n%s", control.stdout, shimmed.stdout)
		}
		if !strings.Contains(control.stdout, "SIG") && len(control.stdout) < 20 {
			t.Fatalf("the driver printed no dispositions; the check proves nothing:\n%s", control.stdout)
		}
	})
}
