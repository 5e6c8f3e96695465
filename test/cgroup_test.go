package test

// keepalive cgroup: a sock_ops program attached to a cgroup v2 reaches what
// no preload does (static binaries, Go programs). Each test has its own
// child cgroup and its own bpffs mount, and starts real programs in the
// cgroup with SysProcAttr.CgroupFD; each case has a control run outside
// the cgroup or without the attachment, and reads the options back from the
// kernel with getsockopt in the program itself.

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

var (
	probesOnce       sync.Once
	probeGoBin       string
	probeCBin        string
	probeCErr        error
	probeGoErr       error
	cgroupSeq        atomic.Int32
	attachedSettings = []string{"--idle", "11", "--interval", "4", "--count", "3", "--user-timeout", "5"}
)

// want of attachedSettings, as the probes print them.
const wantAttached = "ka=1 idle=11 intvl=4 cnt=3 ut=5000"

func buildProbes(t *testing.T) {
	t.Helper()
	probesOnce.Do(func() {
		dir, err := os.MkdirTemp(bin, "cgroup-probes-")
		if err != nil {
			probeGoErr, probeCErr = err, err
			return
		}
		probeGoBin = filepath.Join(dir, "probe-go")
		cmd := exec.Command("go", "build", "-o", probeGoBin, "./go/cgprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeGoErr = fmt.Errorf("building the static Go probe: %v\n%s", err, out)
		}
		probeCBin = filepath.Join(dir, "probe-c")
		if out, err := exec.Command("gcc", "-static", "-O1", "-Wall", "-o", probeCBin, "c/cgprobe.c").CombinedOutput(); err != nil {
			probeCErr = fmt.Errorf("gcc -static: %v\n%s", err, out)
		}
	})
	if probeGoErr != nil {
		t.Fatal(probeGoErr)
	}
}

// isStatic insists that a probe has no dynamic loader, so that no preload
// could have reached it.
func isStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has a dynamic loader: a preload could reach it, so the case proves less", path)
		}
	}
}

// cgEnv is one test's child cgroup and bpffs.
type cgEnv struct {
	dir   string // the cgroup
	fd    int    // the cgroup's directory, for CgroupFD
	bpffs string
}

func cgroup2Root(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, _ := strings.Cut(l, " - ")
		f := strings.Fields(pre)
		if strings.HasPrefix(post, "cgroup2 ") && len(f) > 4 && f[3] == "/" {
			return f[4]
		}
	}
	t.Skip("SKIPPED LOUDLY: no cgroup v2 is mounted here (no cgroup2 line in /proc/self/mountinfo); keepalive cgroup needs it")
	return ""
}

func newCgEnv(t *testing.T) *cgEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the cgroup tests need root (cgroups, bpffs, BPF programs)")
	}
	root := cgroup2Root(t)
	c := &cgEnv{dir: filepath.Join(root, fmt.Sprintf("ka-test-%d-%d", os.Getpid(), cgroupSeq.Add(1)))}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		var fs unix.Statfs_t
		if unix.Statfs(root, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0 {
			t.Skipf("SKIPPED LOUDLY: the cgroup v2 hierarchy %s is mounted read-only here (statfs), so no child cgroup can be made", root)
		}
		t.Fatalf("cannot make a child cgroup under %s: %v", root, err)
	}
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.fd = fd
	c.bpffs = t.TempDir()
	if err := unix.Mount("bpf", c.bpffs, "bpf", 0, "mode=0700"); err != nil {
		if fss, rerr := os.ReadFile("/proc/filesystems"); rerr == nil && !regexp.MustCompile(`(?m)\tbpf$`).Match(fss) {
			t.Skip("SKIPPED LOUDLY: this kernel has no bpffs (no bpf line in /proc/filesystems); keepalive cgroup needs it")
		}
		t.Fatalf("mount -t bpf %s: %v", c.bpffs, err)
	}
	t.Cleanup(func() {
		unix.Close(c.fd)
		// Kill what is left, then remove the cgroup (its programs go
		// with it) and the bpffs (its pins go with it).
		os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
		for i := 0; i < 100; i++ {
			if os.Remove(c.dir) == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := os.Stat(c.dir); err == nil {
			t.Errorf("could not remove the test cgroup %s", c.dir)
		}
		if err := unix.Unmount(c.bpffs, 0); err != nil {
			t.Errorf("umount %s: %v", c.bpffs, err)
		}
	})
	return c
}

// ka runs `keepalive cgroup ARGS --bpffs <ours>`.
func (c *cgEnv) ka(t *testing.T, args ...string) result {
	t.Helper()
	return run{args: append(append([]string{command, "cgroup"}, args...), "--bpffs", c.bpffs), timeout: 30 * time.Second}.exec(t)
}

func (c *cgEnv) attach(t *testing.T, args ...string) {
	t.Helper()
	r := c.ka(t, append(append([]string{"attach"}, args...), c.dir)...)
	if r.status != 0 {
		// The reason to skip is the kernel's release, read here, never
		// the attach's words: a verifier error says "needs Linux" too.
		if old, release := kernelBelow(t, cgroupKernel); old {
			t.Skipf("SKIPPED LOUDLY: this kernel is %s and keepalive cgroup needs Linux %d.%d or newer (attach %v: %s)", release, cgroupKernel[0], cgroupKernel[1], args, r)
		}
		t.Fatalf("attach %v on Linux %s: %s", args, kernelRelease(t), r)
	}
}

// programs counts the programs of an attach type on the cgroup.
func (c *cgEnv) programs(t *testing.T, typ ebpf.AttachType) int {
	t.Helper()
	q, err := ebpflink.QueryPrograms(ebpflink.QueryOptions{Target: c.fd, Attach: typ})
	if err != nil {
		t.Fatalf("querying the cgroup's programs: %v", err)
	}
	return len(q.Programs)
}

// probe runs a program to its end, in the cgroup or not, and returns the
// fields of its "conn" line.
func (c *cgEnv) probe(t *testing.T, inCgroup bool, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if inCgroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
	}
	out, err := cmd.CombinedOutput()
	got := line(string(out), "conn")
	if err != nil || got == nil {
		t.Fatalf("%v (in cgroup %v): %v\n%s", args, inCgroup, err, out)
	}
	return got
}

func fields(m map[string]string) string {
	return fmt.Sprintf("ka=%s idle=%s intvl=%s cnt=%s ut=%s", m["ka"], m["idle"], m["intvl"], m["cnt"], m["ut"])
}

// listener accepts and holds connections until the test ends.
func listener(t *testing.T, network, addr string) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		if network == "tcp6" && !haveIPv6Loopback() {
			t.Skipf("SKIPPED LOUDLY: no IPv6 loopback here (no ::1 on lo in /proc/net/if_inet6): %v", err)
		}
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// haveIPv6Loopback reads the kernel's IPv6 addresses for ::1 on lo.
func haveIPv6Loopback() bool {
	b, err := os.ReadFile("/proc/net/if_inet6")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == "00000000000000000000000000000001" && f[5] == "lo" {
			return true
		}
	}
	return false
}

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
			if got := c.probe(t, false, probeGoBin, "client", addr); got["ka"] != "0" {
				t.Fatalf("control outside the cgroup: %s, want ka=0 (untouched)", fields(got))
			}
			if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
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
			cmd := exec.CommandContext(ctx, probeGoBin, "server", "127.0.0.1:0")
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

// status returns the numbers of the status line of our cgroup, by column.
func (c *cgEnv) status(t *testing.T) map[string]string {
	t.Helper()
	r := c.ka(t, "status", c.dir)
	if r.status != 0 {
		t.Fatalf("status: %s", r)
	}
	lines := strings.Split(r.stdout, "\n")
	head := strings.Fields(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == len(head) && f[0] == c.dir {
			m := map[string]string{}
			for i, h := range head {
				m[h] = f[i]
			}
			return m
		}
	}
	t.Fatalf("no line for %s in status:\n%s", c.dir, r.stdout)
	return nil
}

// attachmentJSON is the fields of cgroup status --json the tests read.
type attachmentJSON struct {
	Cgroup        string  `json:"cgroup"`
	Kind          string  `json:"kind"`
	State         string  `json:"state"`
	IdleSeconds   *int    `json:"idle_seconds"`
	UserTimeoutMs *int    `json:"user_timeout_ms"`
	Force         *bool   `json:"force"`
	Configured    *uint64 `json:"configured"`
	TimedOut      *uint64 `json:"timed_out"`
}

// statusJSON is our cgroup's entry of cgroup status --json.
func (c *cgEnv) statusJSON(t *testing.T) attachmentJSON {
	t.Helper()
	r := c.ka(t, "status", "--json", c.dir)
	var out struct {
		Attachments []attachmentJSON `json:"attachments"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.status != 0 || len(out.Attachments) != 1 {
		t.Fatalf("status --json: %v\n%s", err, r)
	}
	return out.Attachments[0]
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
	if got := fields(c.probe(t, false, probeGoBin, "client", addr, "go-keepalive")); got != goDefault {
		t.Fatalf("control: Go's own keepalive is %s, want %s: the case proves nothing", got, goDefault)
	}
	c.attach(t, attachedSettings...)
	// Go sets its keepalive after connect returns, over the program's;
	// TCP_USER_TIMEOUT, which Go never sets, stays the operator's.
	goWins := "ka=1 idle=15 intvl=15 cnt=9 ut=5000"
	if got := fields(c.probe(t, true, probeGoBin, "client", addr, "go-keepalive")); got != goWins {
		t.Errorf("without --force: %s, want Go's own keepalive %s", got, goWins)
	}
	c.attach(t, append([]string{"--force"}, attachedSettings...)...)
	if n := c.programs(t, ebpf.AttachCGroupSetsockopt); n != 1 {
		t.Errorf("--force: %d setsockopt programs on the cgroup, want 1", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "client", addr, "go-keepalive")); got != wantAttached {
		t.Errorf("with --force: %s, want the operator's %s", got, wantAttached)
	}
	if got := fields(c.probe(t, false, probeGoBin, "client", addr, "go-keepalive")); got != goDefault {
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
	if got := fields(c.probe(t, true, probeGoBin, "client", addr, "go-keepalive")); got != goWins {
		t.Errorf("without --force again: %s, want Go's own keepalive %s", got, goWins)
	}
}

// detach detaches c's cgroup and insists that no program and no pin is
// left, and that the client (in c's cgroup or one below) gets nothing.
func (c *cgEnv) detach(t *testing.T, client *cgEnv, addr string) {
	t.Helper()
	if r := c.ka(t, "detach", c.dir); r.status != 0 {
		t.Fatalf("detach: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("after detach: %d sock_ops programs, want 0", n)
	}
	if got := client.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
		t.Errorf("after detach, in %s: %s, want ka=0", client.dir, fields(got))
	}
	if ents, _ := os.ReadDir(filepath.Join(c.bpffs, "keepalive", "attached")); len(ents) != 0 {
		t.Errorf("after detach, pins left: %v", ents)
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
	if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
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

// cgroupKernel is the release keepalive cgroup needs: kernelNeeds in
// scripts/keepalive/pins/store.go (sock_ops with bpf_setsockopt of the
// keepalive options, cgroup links).
var cgroupKernel = [2]int{5, 9}

// kernelBelow reports whether the running kernel (uname -r) is older than
// want (major, minor), and its release.
func kernelBelow(t *testing.T, want [2]int) (bool, string) {
	t.Helper()
	release := kernelRelease(t)
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("cannot read the kernel release %q: %v", release, err)
	}
	return major < want[0] || major == want[0] && minor < want[1], release
}

func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// On a host whose systemd ignores BPFProgram= (before 249), load refuses
// and points to the ExecStartPre= drop-in, so that keepalive-load@ fails
// instead of looking active; with a systemd that has it (the control), the
// same load pins.
func TestCgroupLoadOldSystemd(t *testing.T) {
	c := newCgEnv(t)
	for _, tc := range []struct {
		version string
		status  int
	}{{"systemd 247 (247.3-7+deb11u4)\n+PAM +AUDIT", 1}, {"systemd 252 (252.38-1~deb12u1)\n+PAM", 0}} {
		stub := t.TempDir()
		script := "#!/bin/sh\n[ \"$1\" = --version ] && printf '" + tc.version + "\\n' && exit 0\nexit 1\n"
		if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		r := run{env: []string{"PATH=" + stub + ":" + os.Getenv("PATH")}, timeout: 30 * time.Second,
			args: []string{command, "cgroup", "load", "--idle", "60", "--bpffs", c.bpffs, "legacy"}}.exec(t)
		_, pinned := os.Stat(filepath.Join(c.bpffs, "keepalive", "loaded", "legacy", "sock_ops"))
		if tc.status == 1 {
			want := "keepalive: systemd 247 here ignores BPFProgram= (it needs systemd 249 or newer), so a unit using this load would run without keepalive: attach from the unit instead, with the ExecStartPre= drop-in keepalive-cgroup.conf"
			if r.status.ExitStatus() != 1 || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "keepalive: nothing was loaded\n") || pinned == nil {
				t.Errorf("systemd 247: want status 1, %q and nothing pinned:\n%s", want, r)
			}
		} else if r.status != 0 || pinned != nil {
			t.Errorf("control, systemd 252: want the load pinned: %v\n%s", pinned, r)
		}
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

// load pins the program and its settings without attaching; attaching the
// pinned program the way systemd's BPFProgram= does (BPF_PROG_ATTACH with
// BPF_F_ALLOW_MULTI) configures connections.
func TestCgroupLoad(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	r := c.ka(t, append([]string{"load"}, append(attachedSettings, "legacy")...)...)
	if r.status != 0 {
		t.Fatalf("load: %s", r)
	}
	pin := filepath.Join(c.bpffs, "keepalive", "loaded", "legacy", "sock_ops")
	if !strings.Contains(r.stdout, "BPFProgram=sock_ops:"+pin) {
		t.Errorf("load should name the pin for BPFProgram=: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Fatalf("load attached %d programs, want none", n)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
		t.Fatalf("control, loaded but not attached: %s, want ka=0", fields(got))
	}
	prog, err := ebpf.LoadPinnedProgram(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	const allowMulti = 2 // BPF_F_ALLOW_MULTI, as systemd attaches
	if err := ebpflink.RawAttachProgram(ebpflink.RawAttachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps, Flags: allowMulti}); err != nil {
		t.Fatal(err)
	}
	if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
		t.Errorf("pinned program attached as systemd does: %s, want %s", got, wantAttached)
	}
	// A second load changes the settings of the attached program.
	if r := c.ka(t, "load", "--idle", "22", "legacy"); r.status != 0 {
		t.Fatalf("load again: %s", r)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr); got["idle"] != "22" || got["intvl"] != "75" {
		t.Errorf("after a second load: %s, want idle=22 and the kernel's intvl=75", fields(got))
	}
	if err := ebpflink.RawDetachProgram(ebpflink.RawDetachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps}); err != nil {
		t.Fatal(err)
	}
	if r := c.ka(t, "unload", "legacy"); r.status != 0 {
		t.Fatalf("unload: %s", r)
	}
	if _, err := os.Stat(filepath.Dir(pin)); err == nil {
		t.Errorf("unload left %s", filepath.Dir(pin))
	}
}

// A static Go client idle on a connection whose peer vanished (its link went
// down) finds out within idle + interval x count + 1 s; one that sends after
// the peer vanished (keepalive never fires while data is unacknowledged) is
// ended by --user-timeout. The controls, in the same kind of cgroup without
// the attachment or with keepalive alone, are still waiting.
func TestCgroupDeadPeer(t *testing.T) {
	buildProbes(t)
	t.Parallel()
	const idle, intvl, cnt = 1, 1, 2
	keepalive := []string{"--idle", strconv.Itoa(idle), "--interval", strconv.Itoa(intvl), "--count", strconv.Itoa(cnt)}
	bound := time.Duration(idle+intvl*cnt+1) * time.Second
	for _, tc := range []struct {
		name, mode string
		attach     []string
		within     time.Duration // 0: want the client still waiting
	}{
		{"idle-unattached", "wire", nil, 0},
		{"idle-attached", "wire", keepalive, bound},
		{"busy-keepalive-only", "busy", keepalive, 0},
		{"busy-user-timeout", "busy", append([]string{"--user-timeout", "3"}, keepalive...), 3*time.Second + busyMargin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCgEnv(t)
			if tc.attach != nil {
				c.attach(t, tc.attach...)
			}
			l := newLink(t)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			// The process joins the cgroup as it is made, before ip netns
			// exec remounts /sys in the namespace.
			cmd := exec.CommandContext(l.ctx, "ip", "netns", "exec", l.cli, probeGoBin, tc.mode, net.JoinHostPort(serverAddr, wirePort))
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
			p := startProc(t, cmd)
			conn := p.expect(t, "connected")
			l.vanish(t, l.srv, l.srvIf)
			fmt.Fprintln(p.in, "go")
			o := p.outcome(t, wireWatch)
			if tc.attach != nil {
				if want := fmt.Sprintf("ka=1 idle=%d intvl=%d cnt=%d", idle, intvl, cnt); !strings.Contains(conn, want) {
					t.Errorf("connection: %q, want %s", conn, want)
				}
			} else if !strings.Contains(conn, "ka=0") {
				t.Errorf("control: connection %q, want keepalive off", conn)
			}
			if tc.within != 0 && (o.errno != etimedout || o.seconds > tc.within.Seconds()) {
				t.Errorf("want ETIMEDOUT within %v, got %q", tc.within, o.line)
			}
			if tc.within == 0 && o.line != "" {
				t.Errorf("want the client still waiting after %v, got %q", wireWatch, o.line)
			}
			// The dead peer is counted where the kernel closed the
			// connection for it, and only there.
			if tc.attach != nil {
				want := uint64(0)
				if tc.within != 0 {
					want = 1
				}
				j := c.statusJSON(t)
				if j.TimedOut == nil {
					t.Logf("NOT COUNTED on Linux %s: timed_out is null (the kernel cannot run the counting program)", kernelRelease(t))
				} else if *j.TimedOut != want {
					t.Errorf("status --json: timed_out %d, want %d", *j.TimedOut, want)
				}
				if st := c.status(t); j.TimedOut != nil && st["TIMED-OUT"] != strconv.FormatUint(want, 10) {
					t.Errorf("status: TIMED-OUT %s, want %d", st["TIMED-OUT"], want)
				}
			}
		})
	}
}

// systemd removes a unit's cgroup when it stops and makes it again when it
// starts: the pinned link then holds a cgroup that is gone. status says so,
// and attach to the new cgroup replaces it.
func TestCgroupRecreated(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	c.attach(t, attachedSettings...)
	unix.Close(c.fd)
	if err := os.Remove(c.dir); err != nil {
		t.Fatal(err)
	}
	if st := c.status(t); st["STATE"] != "gone" {
		t.Errorf("status with the cgroup gone: %v, want stale", st)
	}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if st := c.status(t); st["STATE"] != "remade" {
		t.Errorf("status with the cgroup made again: %v, want remade", st)
	}
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.fd = fd
	if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
		t.Fatalf("control, the new cgroup before attach: %s, want ka=0", fields(got))
	}
	c.attach(t, attachedSettings...)
	if st := c.status(t); st["STATE"] != "attached" {
		t.Errorf("status after attach to the new cgroup: %v", st)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
		t.Errorf("%d sock_ops programs on the new cgroup, want 1", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
		t.Errorf("new cgroup after attach: %s, want %s", got, wantAttached)
	}
}

// A systemd unit name resolves through `systemctl show -p ControlGroup`
// under the cgroup2 mount, wherever that is (here a stand-in systemctl that
// answers as systemd does, since systemd need not be running), with the
// unit's dots and systemd's own escapes; a file of the same name in the
// current directory (a unit file, to an operator in /etc/systemd/system) is
// not taken for the cgroup; a bpffs that is not mounted gets mounted.
func TestCgroupUnitName(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	stub := t.TempDir()
	rel := strings.TrimPrefix(c.dir, cgroup2Root(t))
	units := map[string]string{"legacy.service": "system.slice/legacy.service", `web\x2dfront.service`: `system.slice/web\x2dfront.service`}
	script := "#!/bin/sh\n"
	for u, cg := range units {
		script += fmt.Sprintf("[ \"$*\" = 'show -p ControlGroup --value -- %s' ] && echo '%s/%s' && exit 0\n", u, rel, cg)
	}
	script += "echo \"Unit $* not found.\" >&2; exit 1\n"
	if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	unitFile := filepath.Join(bin, "legacy.service") // bin is where run starts programs
	if err := os.WriteFile(unitFile, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(unitFile)
	unmounted := filepath.Join(t.TempDir(), "bpf")
	env := []string{"PATH=" + stub + ":" + os.Getenv("PATH")}
	ka := func(args ...string) result {
		return run{env: env, args: append([]string{command, "cgroup"}, append(args, "--bpffs", unmounted)...), timeout: 30 * time.Second}.exec(t)
	}
	mounted := false
	defer func() {
		if mounted {
			unix.Unmount(unmounted, 0)
		}
	}()
	for _, u := range []string{"legacy.service", `web\x2dfront.service`} {
		t.Run(u, func(t *testing.T) {
			dir, fd := c.sub(t, units[u])
			in := c.in(dir, fd)
			if got := in.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
				t.Fatalf("control, before attach: %s, want ka=0", fields(got))
			}
			r := ka("attach", "--idle", "11", u)
			var sfs unix.Statfs_t
			if !mounted && unix.Statfs(unmounted, &sfs) == nil && sfs.Type == 0xcafe4a11 {
				mounted = true
			}
			if r.status != 0 || !strings.Contains(r.stdout, "attached to "+dir+":") {
				t.Fatalf("attach %s: want it resolved to %s: %s", u, dir, r)
			}
			if got := in.probe(t, true, probeGoBin, "client", addr); got["idle"] != "11" {
				t.Errorf("after attach by unit name: %s, want idle=11", fields(got))
			}
			if r := ka("status", u); r.status != 0 || !strings.Contains(r.stdout, "\n"+dir+" ") {
				t.Errorf("status %s: want its line: %s", u, r)
			}
			// The same cgroup as systemd-cgls writes it, relative to the
			// cgroup2 mount.
			cgls := strings.TrimPrefix(dir, cgroup2Root(t)+"/")
			if r := ka("attach", "--idle", "12", cgls); r.status != 0 || !strings.Contains(r.stdout, "attached to "+dir+":") {
				t.Errorf("attach %s: want it resolved to %s: %s", cgls, dir, r)
			}
			if got := in.probe(t, true, probeGoBin, "client", addr); got["idle"] != "12" {
				t.Errorf("after attach by %s: %s, want idle=12", cgls, fields(got))
			}
			if r := ka("detach", u); r.status != 0 {
				t.Errorf("detach %s: %s", u, r)
			}
			if got := in.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
				t.Errorf("after detach by unit name: %s, want ka=0", fields(got))
			}
		})
	}
	if !mounted {
		t.Errorf("attach did not mount bpffs at %s", unmounted)
	}
	// A unit that stopped has no cgroup for systemd to show (its
	// ExecStopPost= may run after that): status and detach by its name
	// still find its pins.
	t.Run("stopped", func(t *testing.T) {
		dir, _ := c.sub(t, units["legacy.service"])
		if r := ka("attach", "--idle", "11", "legacy.service"); r.status != 0 {
			t.Fatalf("attach: %s", r)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		stopped := t.TempDir()
		os.WriteFile(filepath.Join(stopped, "systemctl"), []byte("#!/bin/sh\n[ \"$*\" = 'show -p ControlGroup --value -- legacy.service' ] && echo && exit 0\nexit 1\n"), 0o755)
		gone := func(args ...string) result {
			return run{env: []string{"PATH=" + stopped + ":" + os.Getenv("PATH")}, args: append([]string{command, "cgroup"}, append(args, "--bpffs", unmounted)...), timeout: 30 * time.Second}.exec(t)
		}
		if r := gone("status", "legacy.service"); r.status != 0 || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(dir)+`\s+gone\s`).MatchString(r.stdout) {
			t.Errorf("status of the stopped unit: want its line, gone: %s", r)
		}
		if r := gone("detach", "legacy.service"); r.status != 0 || !strings.Contains(r.stdout, "detached from "+dir) {
			t.Errorf("detach of the stopped unit: %s", r)
		}
		if r := gone("detach", "legacy.service"); r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "systemd unit legacy.service has no cgroup") {
			t.Errorf("control, detach again, nothing left: want status 1 and systemd's answer: %s", r)
		}
	})
	r := ka("attach", "other.service")
	if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "other.service is neither a directory nor a systemd unit systemctl can show (Unit show -p ControlGroup") {
		t.Errorf("an unknown unit: %s", r)
	}
}

// The systemd examples, as systemd reads them: `systemd-analyze verify` on a
// service and a socket with the drop-ins, and the load template, finds no
// unknown key, bad BPFProgram= or missing command. What this cannot check
// without systemd running as init: the attachment when the units start.
func TestCgroupSystemdExamples(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("SKIPPED LOUDLY: no systemd-analyze here (package systemd) to verify the systemd examples with")
	}
	units := t.TempDir()
	examples := filepath.Join("..", "scripts", "systemd")
	install := func(from, to string, edit func(string) string) {
		b, err := os.ReadFile(filepath.Join(examples, from))
		if err != nil {
			t.Fatal(err)
		}
		s := edit(string(b))
		os.MkdirAll(filepath.Dir(filepath.Join(units, to)), 0o755)
		if err := os.WriteFile(filepath.Join(units, to), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(units, "legacy.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(units, "legacy.socket"), []byte("[Socket]\nListenStream=127.0.0.1:7311\n"), 0o644)
	os.WriteFile(filepath.Join(units, "other.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(units, "control.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	here := func(s string) string { return strings.ReplaceAll(s, "@BINDIR@", filepath.Dir(command)) }
	// As the example says for a .socket unit: the same lines under [Socket].
	socket := func(s string) string { return strings.ReplaceAll(here(s), "[Service]", "[Socket]") }
	install("keepalive-load@.service", "keepalive-load@.service", here)
	install("keepalive-cgroup@.service", "keepalive-cgroup@.service", here)
	install("keepalive-metrics.service", "keepalive-metrics.service", here)
	install("keepalive-metrics.timer", "keepalive-metrics.timer", here)
	install("keepalive-cgroup.conf", "legacy.service.d/keepalive-cgroup.conf", here)
	install("keepalive-cgroup.conf", "legacy.socket.d/keepalive-cgroup.conf", socket)
	install("keepalive-bpfprogram.conf", "other.service.d/keepalive-bpfprogram.conf", here)
	verify := func(unit string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", filepath.Join(units, unit)) // the man page is not installed here
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":", "SYSTEMD_LOG_COLOR=0")
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	for _, u := range []string{"legacy.service", "legacy.socket", "other.service", "keepalive-load@legacy.service",
		"keepalive-cgroup@system.slice.service", "keepalive-metrics.service", "keepalive-metrics.timer"} {
		if out := verify(u); out != "" {
			t.Errorf("systemd-analyze verify %s:\n%s", u, out)
		}
	}
	// The control: a drop-in with a misspelt key and a wrong path is
	// read and complained about, so silence above means something.
	install("keepalive-cgroup.conf", "control.service.d/keepalive-cgroup.conf", func(s string) string {
		return strings.ReplaceAll(s, "@BINDIR@", "/nonexistent") + "BPFProgramm=sock_ops:/x\n"
	})
	if out := verify("control.service"); !strings.Contains(out, "BPFProgramm") || !strings.Contains(out, "/nonexistent/keepalive") {
		t.Errorf("control: systemd-analyze verify did not complain about a bad drop-in:\n%s", out)
	}
}

// sub makes the cgroup rel (slash-separated, every part made) under ours and
// opens it for CgroupFD; it goes when the test ends, before ours.
func (c *cgEnv) sub(t *testing.T, rel string) (dir string, fd int) {
	t.Helper()
	dir = filepath.Join(c.dir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("making the cgroup %s: %v", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fd)
		for d := dir; d != c.dir; d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	return dir, fd
}

// in is c with another cgroup of its own as the one probes and queries use.
func (c *cgEnv) in(dir string, fd int) *cgEnv {
	d := *c
	d.dir, d.fd = dir, fd
	return &d
}

// Cgroups named as systemd, Docker, Podman and Kubernetes name them, each
// with a dot (which bpffs refuses in a pin's name), some with '@', '\' and
// '_', and one whose pin name would pass NAME_MAX: each is attached, read
// back by a static Go client in it and by status, attached again and
// detached. The control is the same client in the unattached parent.
func TestCgroupOperatorNames(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	hex64 := strings.Repeat("0123456789abcdef", 4)
	long := "kubepods.slice/" + strings.Repeat("kubepods-burstable-pod.slice/", 8) + "cri-containerd-" + hex64 + ".scope"
	for _, tc := range []struct {
		name, attach, client string // the cgroup attached, and the one the client runs in
	}{
		{"service", "system.slice/legacy.service", ""},
		{"socket", "system.slice/legacy.socket", ""},
		{"slice", "system.slice", "system.slice/other.service"},
		{"template-instance", "system.slice/system-getty.slice/getty@tty1.service", ""},
		{"systemd-escape", `system.slice/web\x2dfront.service`, ""},
		{"docker-scope", "system.slice/docker-" + hex64 + ".scope", ""},
		{"kubernetes-pod", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3b1e3a2c_5f4d_4e7a_9c1b_2d6f8e0a1b2c.slice/cri-containerd-" + hex64 + ".scope", ""},
		{"over-name-max", long, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.client == "" {
				tc.client = tc.attach
			}
			dir, fd := c.sub(t, tc.attach)
			a := c.in(dir, fd)
			client := a
			if tc.client != tc.attach {
				client = c.in(c.sub(t, tc.client))
			}
			if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
				t.Fatalf("control, in the unattached parent: %s, want ka=0", fields(got))
			}
			if r := a.ka(t, append(append([]string{"attach"}, attachedSettings...), dir)...); r.status != 0 {
				t.Fatalf("attach %s: %s", dir, r)
			}
			if got := fields(client.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
				t.Errorf("in %s: %s, want %s", tc.client, got, wantAttached)
			}
			if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
				t.Errorf("control after attach, in the parent: %s, want ka=0", fields(got))
			}
			if st := a.status(t); st["STATE"] != "attached" || st["IDLE"] != "11s" || st["CONFIGURED"] != "1" {
				t.Errorf("status: %v", st)
			}
			if j := a.statusJSON(t); j.Cgroup != dir || j.Kind != "attached" || j.State != "attached" || j.IdleSeconds == nil || *j.IdleSeconds != 11 ||
				j.UserTimeoutMs == nil || *j.UserTimeoutMs != 5000 || j.Configured == nil || *j.Configured != 1 || j.TimedOut != nil && *j.TimedOut != 0 {
				t.Errorf("status --json: %+v", j)
			}
			if r := a.ka(t, "attach", "--idle", "22", dir); r.status != 0 {
				t.Fatalf("attach again: %s", r)
			}
			if got := client.probe(t, true, probeGoBin, "client", addr); got["idle"] != "22" || got["intvl"] != "75" {
				t.Errorf("after attaching again: %s, want idle=22 and the kernel's intvl=75", fields(got))
			}
			if n := a.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
				t.Errorf("after two attaches: %d sock_ops programs, want 1", n)
			}
			a.detach(t, client, addr)
		})
	}
}

// A failed attach says what is attached to the cgroup now, as the kernel
// has it: nothing (every time, not only the first), or the earlier settings
// by name, which are still the ones connections get.
func TestCgroupFailedAttach(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	dir, fd := c.sub(t, "system.slice/legacy.service")
	a := c.in(dir, fd)
	obstacle := func(t *testing.T, path string) func() {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o700)
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Pin(path); err != nil {
			t.Fatal(err)
		}
		return func() { os.Remove(path) }
	}
	t.Run("nothing-attached", func(t *testing.T) {
		// A foreign sock_ops program on the cgroup, as BPFProgram= makes.
		if r := a.ka(t, "load", "--idle", "99", "foreign"); r.status != 0 {
			t.Fatalf("load: %s", r)
		}
		prog, err := ebpf.LoadPinnedProgram(filepath.Join(c.bpffs, "keepalive", "loaded", "foreign", "sock_ops"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		opts := ebpflink.RawAttachProgramOptions{Target: fd, Program: prog, Attach: ebpf.AttachCGroupSockOps, Flags: 2}
		if err := ebpflink.RawAttachProgram(opts); err != nil {
			t.Fatal(err)
		}
		defer ebpflink.RawDetachProgram(ebpflink.RawDetachProgramOptions{Target: fd, Program: prog, Attach: ebpf.AttachCGroupSockOps})
		remove := obstacle(t, filepath.Join(c.bpffs, "keepalive", "attached"))
		defer remove()
		want := "keepalive: nothing of keepalive's is attached to " + dir + " (1 other sock_ops program(s), not keepalive's, are attached there)\n"
		for i := 0; i < 2; i++ {
			r := a.ka(t, "attach", "--idle", "30", dir)
			if r.status.ExitStatus() != 1 || !strings.HasSuffix(r.stderr, want) || strings.Count(r.stderr, "\n") != 2 {
				t.Errorf("attempt %d: want status 1, the cause and %q:\n%s", i+1, want, r)
			}
		}
		if n := a.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
			t.Errorf("%d sock_ops programs, want the foreign one alone", n)
		}
		remove()
		if r := a.ka(t, "attach", "--idle", "30", dir); r.status != 0 {
			t.Errorf("control, the obstacle gone: %s", r)
		}
		a.ka(t, "detach", dir)
	})
	t.Run("earlier-settings", func(t *testing.T) {
		if r := a.ka(t, "attach", "--idle", "30", "--count", "4", dir); r.status != 0 {
			t.Fatalf("attach: %s", r)
		}
		defer a.ka(t, "detach", dir)
		pinDir := filepath.Join(c.bpffs, "keepalive", "attached", "+"+strings.ReplaceAll(strings.ReplaceAll(strings.TrimPrefix(dir, "/"), ".", "%2E"), "/", "+"))
		if _, err := os.Stat(pinDir); err != nil {
			t.Fatalf("the pins are not where the name says: %v", err)
		}
		defer obstacle(t, filepath.Join(pinDir, "setsockopt_link"))()
		r := a.ka(t, "attach", "--force", "--idle", "40", dir)
		want := "keepalive: " + dir + " keeps the earlier settings: idle 30s, interval kernel's, count 4, user timeout kernel's\n"
		if r.status.ExitStatus() != 1 || !strings.HasSuffix(r.stderr, want) {
			t.Errorf("want status 1 and %q:\n%s", want, r)
		}
		if got := a.probe(t, true, probeGoBin, "client", addr); got["idle"] != "30" || got["cnt"] != "4" {
			t.Errorf("after the failed attach: %s, want the earlier idle=30 cnt=4", fields(got))
		}
		if n := a.programs(t, ebpf.AttachCGroupSetsockopt); n != 0 {
			t.Errorf("after the failed --force: %d setsockopt programs, want 0", n)
		}
		if st := a.status(t); st["IDLE"] != "30s" || st["FORCE"] != "no" {
			t.Errorf("status after the failed attach: %v", st)
		}
	})
}

// Names the command hands to bpffs from what the operator typed: a load's
// NAME with a dot (or '%', '\', '/') and a --bpffs path with a dot inside a
// bpffs get our own line, never the kernel's EPERM, and nothing is made.
func TestCgroupRefusedNames(t *testing.T) {
	c := newCgEnv(t)
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"load", "--idle", "60", "legacy.service"}, 2, `load NAME "legacy.service" cannot be a pin directory: it holds '.'; a NAME may hold only letters, digits, '-', '_' and '@'`},
		{[]string{"load", "--idle", "60", `web\x2dfront`}, 2, `it holds '\\'`},
		{[]string{"unload", "legacy.service"}, 2, `try "legacy"`},
		{[]string{"attach", "--idle", "60", "--bpffs", filepath.Join(c.bpffs, "my.pins"), c.dir}, 1, "bpffs refuses names that hold a '.' (my.pins)"},
	} {
		var r result
		if slices.Contains(tc.args, "--bpffs") {
			r = run{args: append([]string{command, "cgroup"}, tc.args...), timeout: 30 * time.Second}.exec(t)
		} else {
			r = c.ka(t, tc.args...)
		}
		if r.status.ExitStatus() != tc.status || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "operation not permitted") {
			t.Errorf("%v: want status %d and %q, not the kernel's EPERM:\n%s", tc.args, tc.status, tc.want, r)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(c.bpffs, "keepalive", "loaded")); len(ents) != 0 {
		t.Errorf("refused names left pins: %v", ents)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("%d programs attached after refusals", n)
	}
	// The control: the suggested name loads.
	if r := c.ka(t, "load", "--idle", "60", "legacy"); r.status != 0 {
		t.Errorf("control, load legacy: %s", r)
	}
}

// One configuration file for both modes: attach --config FILE applies the
// library's file (its settings, and KEEPALIVE=force as --force) with the
// library's reader and messages; options override it; a file with a bad
// value, KEEPALIVE=off or a missing file named by --config attaches
// nothing; without any option the library's /etc/keepalive.conf is read
// (here in a mount namespace of the test's own, over an /etc of its own).
// Each is read back from the kernel by the static Go client.
func TestCgroupConfigFile(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	dir := t.TempDir()
	conf := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := conf("good.conf", "# the host's policy\nKEEPIDLE=11\nKEEPINTVL=4s\nKEEPCNT=3\nKEEPUSERTIMEOUT=5\nKEEPALIVE_EXCLUDE=java\n")
	if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
		t.Fatalf("control, before attach: %s, want ka=0", fields(got))
	}
	r := c.ka(t, "attach", "--config", good, c.dir)
	if r.status != 0 || !strings.Contains(r.stdout, "settings from "+good) ||
		!strings.Contains(r.stderr, "keepalive: note: "+good+":6: KEEPALIVE_EXCLUDE is the library's") {
		t.Fatalf("attach --config: %s", r)
	}
	if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
		t.Errorf("after attach --config: %s, want %s", got, wantAttached)
	}
	if r := c.ka(t, "attach", "--config", good, "--idle", "22", c.dir); r.status != 0 {
		t.Fatalf("attach --config --idle: %s", r)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr); got["idle"] != "22" || got["intvl"] != "4" || got["ut"] != "5000" {
		t.Errorf("an option over the file: %s, want idle=22 from the option, intvl=4 and ut=5000 from the file", fields(got))
	}
	forced := conf("force.conf", "KEEPALIVE=force\nKEEPIDLE=11\n")
	if r := c.ka(t, "attach", "--config", forced, c.dir); r.status != 0 {
		t.Fatalf("attach --config with KEEPALIVE=force: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSetsockopt); n != 1 {
		t.Errorf("KEEPALIVE=force in the file: %d setsockopt programs, want 1 (as --force)", n)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr, "go-keepalive"); got["idle"] != "11" {
		t.Errorf("KEEPALIVE=force: Go's own keepalive got %s, want the file's idle=11", fields(got))
	}
	if r := c.ka(t, "attach", "--config", good, c.dir); r.status != 0 {
		t.Fatalf("attach --config again: %s", r)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"bad-value", conf("bad.conf", "KEEPIDLE=60\nKEEPCNT=0\n"),
			`libkeepalive: ` + dir + `/bad.conf:2: KEEPCNT="0" is out of range: want a number of probes from 1 to 127`},
		{"off", conf("off.conf", "KEEPALIVE=off\n"), "keepalive: " + dir + `/off.conf:1: KEEPALIVE="off" means no keepalive`},
		{"missing", filepath.Join(dir, "nope.conf"), "libkeepalive: " + dir + "/nope.conf"},
		{"not-a-setting", conf("typo.conf", "KEEPIDEL=60\n"), "libkeepalive: " + dir + "/typo.conf:1 is not a setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.ka(t, "attach", "--config", tc.file, "--idle", "30", c.dir)
			if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, tc.want) ||
				!strings.HasSuffix(r.stderr, "keepalive: nothing was attached: the cgroup mode applies a configuration file whole or not at all\n") {
				t.Errorf("want status 2, %q and nothing attached:\n%s", tc.want, r)
			}
			if got := fields(c.probe(t, true, probeGoBin, "client", addr)); got != wantAttached {
				t.Errorf("after the refusal: %s, want the earlier %s", got, wantAttached)
			}
		})
	}
	t.Run("check", func(t *testing.T) {
		for _, tc := range []struct{ file, want string }{
			{good, "cgroup mode: keepalive cgroup attach --config " + good + " would apply idle 11s, interval 4s, count 3, user timeout 5000ms (from " + good},
			{forced, "would apply idle 11s, interval kernel's, count kernel's, user timeout kernel's, forced"},
			{filepath.Join(dir, "off.conf"), "cgroup mode: keepalive cgroup attach --config " + dir + "/off.conf would refuse " + dir + "/off.conf:\n  keepalive: " + dir + "/off.conf:1: KEEPALIVE=\"off\""},
		} {
			r := run{args: []string{command, "check", "--config", tc.file}, timeout: 30 * time.Second}.exec(t)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("keepalive check --config %s: want %q:\n%s", tc.file, tc.want, r)
			}
		}
	})
	t.Run("default-file", func(t *testing.T) {
		need(t, "unshare")
		etc := t.TempDir()
		if err := os.WriteFile(filepath.Join(etc, "keepalive.conf"), []byte("KEEPIDLE=33\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ka := func(args ...string) result {
			script := `mount --bind "$1" /etc && shift && exec "$@"`
			return run{args: append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", etc, command, "cgroup"},
				append(args, "--bpffs", c.bpffs)...), timeout: 30 * time.Second}.exec(t)
		}
		if r := ka("attach", c.dir); r.status != 0 || !strings.Contains(r.stdout, "settings from /etc/keepalive.conf") {
			t.Fatalf("attach with no option: %s", r)
		}
		if got := c.probe(t, true, probeGoBin, "client", addr); got["idle"] != "33" || got["intvl"] != "75" {
			t.Errorf("attach with no option: %s, want /etc/keepalive.conf's idle=33 and the kernel's intvl=75", fields(got))
		}
		// Any option: the file is not read (the shipped drop-in's lines
		// keep their meaning).
		if r := ka("attach", "--count", "4", c.dir); r.status != 0 || strings.Contains(r.stdout, "settings from") {
			t.Fatalf("attach --count: %s", r)
		}
		if got := c.probe(t, true, probeGoBin, "client", addr); got["idle"] != "7200" || got["cnt"] != "4" {
			t.Errorf("attach --count: %s, want the kernel's idle=7200 and cnt=4", fields(got))
		}
	})
}

// A process started as Docker and Podman start one: in a scope of its own
// under system.slice or machine.slice, in its own network namespace (the
// peer across a veth pair, outside) and mount and UTS namespaces, a static
// Go program no preload could reach. One attach to the slice covers it,
// whatever the container's own keepalive sysctls (per network namespace,
// not the host's). The control is the same container before the attach.
func TestCgroupContainerScope(t *testing.T) {
	buildProbes(t)
	need(t, "unshare")
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct{ name, slice, scope string }{
		{"docker", "system.slice", "docker-" + hex64 + ".scope"},
		{"podman", "machine.slice", "libpod-" + hex64 + ".scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCgEnv(t)
			slice, sliceFD := c.sub(t, tc.slice)
			scope, scopeFD := c.sub(t, tc.slice+"/"+tc.scope)
			l := newLink(t)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			container := func() string {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.cli, "unshare", "--mount", "--uts", "--propagation", "private",
					probeGoBin, "client", net.JoinHostPort(serverAddr, wirePort))
				cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: scopeFD}
				out, err := cmd.CombinedOutput()
				got := line(string(out), "conn")
				if err != nil || got == nil {
					t.Fatalf("the container's client: %v\n%s", err, out)
				}
				return fields(got)
			}
			if got := container(); !strings.HasPrefix(got, "ka=0 ") {
				t.Fatalf("control, before the attach: %s, want ka=0", got)
			}
			a := c.in(slice, sliceFD)
			if r := a.ka(t, append(append([]string{"attach"}, attachedSettings...), slice)...); r.status != 0 {
				t.Fatalf("attach %s: %s", slice, r)
			}
			if got := container(); got != wantAttached {
				t.Errorf("the container in %s after attach %s: %s, want %s", scope, tc.slice, got, wantAttached)
			}
			if st := a.status(t); st["CONFIGURED"] != "1" {
				t.Errorf("status of %s: %v, want one connection configured", slice, st)
			}
		})
	}
}
