package test

// keepalive cgroup: a sock_ops program attached to a cgroup v2 reaches what
// no preload does (static binaries, Go programs). Each test has its own
// child cgroup and its own bpffs mount, and starts real programs in the
// cgroup with SysProcAttr.CgroupFD; each case has a control run outside
// the cgroup or without the attachment, and reads the options back from the
// kernel with getsockopt in the program itself.

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"
	"github.com/libkeepalive/libkeepalive/test/internal/probebuild"
	"golang.org/x/sys/unix"
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
		probeGoErr = probebuild.Static(probeGoBin, "")
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

// output runs a program to its end within d, in the cgroup or not, and
// returns its output; err is its failure.
func (c *cgEnv) output(inCgroup bool, d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if inCgroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// probe runs a program to its end, in the cgroup or not, and returns the
// fields of its "conn" line.
func (c *cgEnv) probe(t *testing.T, inCgroup bool, args ...string) map[string]string {
	t.Helper()
	out, err := c.output(inCgroup, 20*time.Second, args...)
	got := line(out, "conn")
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
	// The rules by destination, in order, and the counters of the
	// connections none of them took (null without rules).
	Rules   []ruleJSON        `json:"rules"`
	Default map[string]uint64 `json:"default"`
}

// ruleJSON is one rule by destination of cgroup status --json.
type ruleJSON struct {
	Line     int               `json:"line"`
	Rule     string            `json:"rule"`
	Counters map[string]uint64 `json:"counters"`
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
	if got := client.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
		t.Errorf("after detach, in %s: %s, want ka=0", client.dir, fields(got))
	}
	if ents, _ := os.ReadDir(filepath.Join(c.bpffs, "keepalive", "attached")); len(ents) != 0 {
		t.Errorf("after detach, pins left: %v", ents)
	}
}

// cgroupKernel is the release keepalive cgroup needs: kernelNeeds in
// scripts/keepalive/pins/probe.go (sock_ops with bpf_setsockopt of the
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
