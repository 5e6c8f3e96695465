package test

// keepalive cgroup: attach, detach and status on static Go and C programs,
// bad values and errors (the environment: cgroup_env_test.go).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// Static Go clients over IPv4 and IPv6; the same program outside the cgroup
// is the control.
func TestCgroupGoClient(t *testing.T) {
	buildProbes(t)
	isStatic(t, probeGoBin)
	c := newCgEnv(t)
	c.attach(t, attachedSettings...)
	for _, fam := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(fam.network, func(t *testing.T) {
			addr := listener(t, fam.network, fam.addr)
			if got := c.probe(t, false, probeGoBin, "dial", addr); got["ka"] != "0" {
				t.Fatalf("control outside the cgroup: %s, want ka=0 (untouched)", fields(got))
			}
			if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
				t.Errorf("in the cgroup: %s, want %s", got, wantAttached)
			}
		})
	}
}

// A static Go server: the connections it accepts get the settings.
func TestCgroupGoServer(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	c.attach(t, attachedSettings...)
	for _, in := range []bool{false, true} {
		t.Run(fmt.Sprintf("in-cgroup=%v", in), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, probeGoBin, "accept", "127.0.0.1:0")
			if in {
				cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
			}
			out, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			sc := bufio.NewScanner(out)
			if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening ") {
				t.Fatalf("server: %q", sc.Text())
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(sc.Text(), "listening "))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if !sc.Scan() {
				t.Fatal("server printed no conn line")
			}
			got := fields(line(sc.Text(), "conn"))
			if in && got != wantAttached {
				t.Errorf("accepted in the cgroup: %s, want %s", got, wantAttached)
			}
			if !in && !strings.HasPrefix(got, "ka=0 ") {
				t.Errorf("control, accepted outside the cgroup: %s, want ka=0", got)
			}
		})
	}
}

// A static C client; one that turned keepalive on itself before connect
// keeps its own settings unless --force (which needs bpf_getsockopt of
// SO_KEEPALIVE from sock_ops), and status counts both.
func TestCgroupStaticC(t *testing.T) {
	buildProbes(t)
	if probeCErr != nil {
		t.Fatalf("%v: `make test` installs libc6-dev, whose libc.a gcc -static needs", probeCErr)
	}
	isStatic(t, probeCBin)
	c := newCgEnv(t)
	c.attach(t, attachedSettings...)
	host, port, _ := net.SplitHostPort(listener(t, "tcp4", "127.0.0.1:0"))
	if got := c.probe(t, false, probeCBin, host, port); got["ka"] != "0" {
		t.Fatalf("control outside the cgroup: %s, want ka=0", fields(got))
	}
	if got := fields(c.probe(t, true, probeCBin, host, port)); got != wantAttached {
		t.Errorf("in the cgroup: %s, want %s", got, wantAttached)
	}
	// Before Linux 6.1 the program cannot ask (bpf_getsockopt of
	// SO_KEEPALIVE), and configures it; status says so, from its counters.
	release := kernelRelease(t)
	own := c.probe(t, true, probeCBin, host, port, "-k")
	st := c.status(t)
	if sockops.AnswersKeepalive(release) {
		if own["ka"] != "1" || own["idle"] != "7" {
			t.Errorf("own keepalive before connect, no --force: %s, want the program's ka=1 idle=7", fields(own))
		}
		if st["STATE"] != "attached" || st["CONFIGURED"] != "1" || st["LEFT-ALONE"] != "1" || st["UNANSWERED"] != "0" || st["IDLE"] != "11s" || st["FORCE"] != "no" {
			t.Errorf("status after one configured and one left alone: %v", st)
		}
	} else {
		if fields(own) != wantAttached {
			t.Errorf("Linux %s, own keepalive before connect, no --force: %s, want %s (the kernel cannot answer)", release, fields(own), wantAttached)
		}
		if st["CONFIGURED"] != "2" || st["LEFT-ALONE"] != "0" || st["UNANSWERED"] != "2" {
			t.Errorf("Linux %s: status after two connections configured unasked: %v", release, st)
		}
	}
	c.attach(t, append([]string{"--force"}, attachedSettings...)...)
	if got := fields(c.probe(t, true, probeCBin, host, port, "-k")); got != wantAttached {
		t.Errorf("own keepalive before connect, --force: %s, want %s", got, wantAttached)
	}
	// --force: a later setsockopt succeeds with the operator's value; one
	// the kernel refuses (too short) is refused as without the program.
	late := func(in bool) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, probeCBin, host, port, "-late")
		if in {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("-late: %v\n%s", err, out)
		}
		return rawLine(string(out), "late") + " " + fields(line(string(out), "conn"))
	}
	if got, want := late(false), "late rc=0 short_errno=22 ka=0 idle=100 intvl=75 cnt=9 ut=0"; got != want {
		t.Errorf("control outside the cgroup: %q, want %q", got, want)
	}
	if got, want := late(true), "late rc=0 short_errno=22 "+wantAttached; got != want {
		t.Errorf("--force, setsockopt after connect: %q, want %q", got, want)
	}
}

// Go turns keepalive on by itself (15 s) right after connect: its choice
// wins without --force, the operator's with it.
func TestCgroupGoOwnKeepalive(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	goDefault := "ka=1 idle=15 intvl=15 cnt=9 ut=0"
	if got := fields(c.probe(t, false, probeGoBin, "dial", addr, "-go")); got != goDefault {
		t.Fatalf("control: Go's own keepalive is %s, want %s: the case proves nothing", got, goDefault)
	}
	c.attach(t, attachedSettings...)
	// Go sets its keepalive after connect returns, over the program's;
	// TCP_USER_TIMEOUT, which Go never sets, stays the operator's.
	goWins := "ka=1 idle=15 intvl=15 cnt=9 ut=5000"
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr, "-go")); got != goWins {
		t.Errorf("without --force: %s, want Go's own keepalive %s", got, goWins)
	}
	c.attach(t, append([]string{"--force"}, attachedSettings...)...)
	if n := c.programs(t, ebpf.AttachCGroupSetsockopt); n != 1 {
		t.Errorf("--force: %d setsockopt programs on the cgroup, want 1", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr, "-go")); got != wantAttached {
		t.Errorf("with --force: %s, want the operator's %s", got, wantAttached)
	}
	if got := fields(c.probe(t, false, probeGoBin, "dial", addr, "-go")); got != goDefault {
		t.Errorf("--force, outside the cgroup: %s, want Go's own %s", got, goDefault)
	}
	if st := c.status(t); st["FORCE"] != "yes" || st["REWRITTEN"] == "0" {
		t.Errorf("status with --force after Go set its own: %v", st)
	}
	// Attaching again without --force takes the rewriting away.
	c.attach(t, attachedSettings...)
	if n := c.programs(t, ebpf.AttachCGroupSetsockopt); n != 0 {
		t.Errorf("attach without --force after --force: %d setsockopt programs, want 0", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr, "-go")); got != goWins {
		t.Errorf("without --force again: %s, want Go's own keepalive %s", got, goWins)
	}
}

// Attaching again replaces the settings and leaves one program; detach
// removes it and its pins, and later connections are untouched.
func TestCgroupReattachDetach(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	c.attach(t, "--idle", "30")
	c.attach(t, attachedSettings...)
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
		t.Errorf("after two attaches: %d sock_ops programs on the cgroup, want 1", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
		t.Errorf("after re-attach: %s, want %s", got, wantAttached)
	}
	c.detach(t, c, addr)
	if r := c.ka(t, "status", c.dir); r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "not attached to "+c.dir) {
		t.Errorf("status after detach: %s", r)
	}
	if r := c.ka(t, "detach", c.dir); r.status.ExitStatus() != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("detach of nothing: want one line and status 1: %s", r)
	}
}

// A bad value: status 2, the library's message, nothing attached or pinned.
func TestCgroupBadValues(t *testing.T) {
	c := newCgEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--idle", "0"}, `keepalive: --idle "0" is out of range: want whole seconds from 1 to 32767`},
		{[]string{"--interval", "6O"}, `keepalive: --interval "6O" is not a number or a duration: want whole seconds`},
		{[]string{"--count", "200"}, `keepalive: --count "200" is out of range: want a number of probes from 1 to 127`},
		{[]string{"--user-timeout", "1.5ms"}, `keepalive: --user-timeout "1.5ms" is`},
		{[]string{"--idle", ""}, `keepalive: --idle needs a value`},
		{[]string{"--idle", "60", "--count", "0"}, `keepalive: --count "0" is out of range`},
	} {
		r := c.ka(t, append(append([]string{"attach"}, tc.args...), c.dir)...)
		if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, tc.want) || !strings.HasSuffix(r.stderr, "keepalive: nothing was attached\n") {
			t.Errorf("attach %v: want status 2 and %q, then 'nothing was attached':\n%s", tc.args, tc.want, r)
		}
		if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
			t.Fatalf("attach %v: %d programs attached, want none", tc.args, n)
		}
		if _, err := os.Stat(filepath.Join(c.bpffs, "keepalive")); err == nil {
			t.Fatalf("attach %v: pins made in %s", tc.args, c.bpffs)
		}
	}
	// The control: the same command with good values attaches.
	c.attach(t, "--idle", "60")
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
		t.Errorf("control: good values attached %d programs, want 1", n)
	}
}

// Missing cgroup, no cgroup v2 there, an unknown unit, no permission: one
// line each, non-zero status, nothing attached.
func TestCgroupErrors(t *testing.T) {
	c := newCgEnv(t)
	notCgroup := t.TempDir()
	for _, tc := range []struct {
		name, arg, want string
	}{
		{"missing", c.dir + "/nope", "cgroup " + c.dir + "/nope: no such file or directory"},
		{"not-cgroup2", notCgroup, notCgroup + " is not a cgroup v2 directory (cgroup v2 is mounted at "},
		{"unknown-unit", "no-such-unit-ka.service", "no-such-unit-ka.service is neither a directory nor a systemd unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.ka(t, "attach", "--idle", "60", tc.arg)
			if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 2 {
				t.Errorf("want status 1, %q and 'nothing was attached':\n%s", tc.want, r)
			}
		})
	}
	t.Run("no-permission", func(t *testing.T) {
		// A directory nobody can reach (t.TempDir's parent is root's only).
		dir, err := os.MkdirTemp("", "ka-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755)
		ka := filepath.Join(dir, "keepalive")
		copyFile(t, command, ka, 0o755)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, ka, "cgroup", "attach", "--idle", "60", "--bpffs", c.bpffs, c.dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "needs root") {
			t.Errorf("as nobody: want a line saying BPF needs root, got %v:\n%s", err, out)
		}
	})
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("%d programs attached after the errors, want none", n)
	}
}
