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
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
)

// probeGo is a static Go program (CGO_ENABLED=0: raw system calls, which no
// preload sees). It prints its connection's options as the kernel has them.
const probeGo = `package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func opts(c net.Conn) string {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err.Error()
	}
	var out string
	raw.Control(func(fd uintptr) {
		g := func(level, name int) int {
			v, err := syscall.GetsockoptInt(int(fd), level, name)
			if err != nil {
				return -1
			}
			return v
		}
		out = fmt.Sprintf("ka=%d idle=%d intvl=%d cnt=%d ut=%d", g(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE),
			g(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), g(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL),
			g(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT), g(syscall.IPPROTO_TCP, 18))
	})
	return out
}

func main() {
	mode, addr := os.Args[1], os.Args[2]
	goKeepalive := len(os.Args) > 3 && os.Args[3] == "go-keepalive"
	ka := time.Duration(-1) // Go turns nothing on
	if goKeepalive {
		ka = 0 // Go's own default: 15 s idle and interval, 9 probes
	}
	switch mode {
	case "client", "wire", "busy":
		c, err := (&net.Dialer{KeepAlive: ka}).Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		if mode == "client" {
			fmt.Println("conn", opts(c))
			return
		}
		c.Write([]byte("hello\n"))
		buf := make([]byte, 100)
		if _, err := c.Read(buf[:6]); err != nil {
			fmt.Println("echo:", err)
			os.Exit(1)
		}
		fmt.Println("connected", opts(c))
		bufio.NewReader(os.Stdin).ReadString('\n')
		t0 := time.Now()
		if mode == "busy" {
			c.Write(make([]byte, 1000))
		}
		_, err = c.Read(buf)
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Printf("error %d after %.2f\n", errno, time.Since(t0).Seconds())
		} else {
			fmt.Printf("eof %v after %.2f\n", strings.ReplaceAll(fmt.Sprint(err), " ", "_"), time.Since(t0).Seconds())
		}
	case "server":
		l, err := (&net.ListenConfig{KeepAlive: ka}).Listen(nil, "tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("listening", l.Addr())
		c, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		fmt.Println("conn", opts(c))
	}
}
`

// probeC is a static C client; with -k it turns keepalive on itself, with
// TCP_KEEPIDLE 7, before connect.
const probeC = `#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int g(int fd, int level, int name) {
	int v = -1;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

int main(int argc, char **argv) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (argc > 3 && strcmp(argv[3], "-k") == 0) {
		int one = 1, seven = 7;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seven, sizeof seven);
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("connect");
		return 1;
	}
	if (argc > 3 && strcmp(argv[3], "-late") == 0) {
		/* After connect, as daemons do: a good call, and one too short
		 * for an int that the kernel refuses with EINVAL. */
		int hundred = 100, rc, short_errno = 0;
		char one = 1;
		rc = setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &hundred, sizeof hundred);
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, 1) < 0)
			short_errno = errno;
		printf("late rc=%d short_errno=%d\n", rc, short_errno);
	}
	printf("conn ka=%d idle=%d intvl=%d cnt=%d ut=%d\n", g(fd, SOL_SOCKET, SO_KEEPALIVE), g(fd, IPPROTO_TCP, TCP_KEEPIDLE),
	       g(fd, IPPROTO_TCP, TCP_KEEPINTVL), g(fd, IPPROTO_TCP, TCP_KEEPCNT), g(fd, IPPROTO_TCP, TCP_USER_TIMEOUT));
	return 0;
}
`

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
		src := filepath.Join(dir, "probe.go")
		os.WriteFile(src, []byte(probeGo), 0o644)
		probeGoBin = filepath.Join(dir, "probe-go")
		cmd := exec.Command("go", "build", "-o", probeGoBin, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeGoErr = fmt.Errorf("building the static Go probe: %v\n%s", err, out)
		}
		csrc := filepath.Join(dir, "probe.c")
		os.WriteFile(csrc, []byte(probeC), 0o644)
		probeCBin = filepath.Join(dir, "probe-c")
		if out, err := exec.Command("gcc", "-static", "-O1", "-Wall", "-o", probeCBin, csrc).CombinedOutput(); err != nil {
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
		t.Skipf("SKIPPED LOUDLY: cannot make a child cgroup under %s: %v", root, err)
	}
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.fd = fd
	c.bpffs = t.TempDir()
	if err := unix.Mount("bpf", c.bpffs, "bpf", 0, "mode=0700"); err != nil {
		t.Skipf("SKIPPED LOUDLY: cannot mount bpffs (mount -t bpf): %v; BPF is missing here", err)
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
		if strings.Contains(r.stderr, "needs Linux") {
			t.Skipf("SKIPPED LOUDLY: this kernel cannot run the program: %s", r.stderr)
		}
		t.Fatalf("attach %v: %s", args, r)
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
		if network == "tcp6" {
			t.Skipf("SKIPPED LOUDLY: no IPv6 loopback here: %v", err)
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
	if got := c.probe(t, true, probeCBin, host, port, "-k"); got["ka"] != "1" || got["idle"] != "7" {
		t.Errorf("own keepalive before connect, no --force: %s, want the program's ka=1 idle=7", fields(got))
	}
	st := c.status(t)
	if st["STATE"] != "attached" || st["CONFIGURED"] != "1" || st["LEFT-ALONE"] != "1" || st["IDLE"] != "11s" || st["FORCE"] != "no" {
		t.Errorf("status after one configured and one left alone: %v", st)
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
	r := c.ka(t, "detach", c.dir)
	if r.status != 0 {
		t.Fatalf("detach: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("after detach: %d sock_ops programs, want 0", n)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr); got["ka"] != "0" {
		t.Errorf("after detach, in the cgroup: %s, want ka=0", fields(got))
	}
	if ents, _ := os.ReadDir(filepath.Join(c.bpffs, "keepalive", "attached")); len(ents) != 0 {
		t.Errorf("after detach, pins left: %v", ents)
	}
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
// under the cgroup2 mount, wherever that is (here a stand-in systemctl,
// since systemd need not be running); a bpffs that is not mounted gets
// mounted.
func TestCgroupUnitName(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	stub := t.TempDir()
	rel := strings.TrimPrefix(c.dir, cgroup2Root(t))
	script := "#!/bin/sh\n[ \"$*\" = \"show -p ControlGroup --value -- legacy.service\" ] && echo " + rel + " && exit 0\necho \"Unit $* not found.\" >&2; exit 1\n"
	if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	unmounted := filepath.Join(t.TempDir(), "bpf")
	env := []string{"PATH=" + stub + ":" + os.Getenv("PATH")}
	r := run{env: env, args: []string{command, "cgroup", "attach", "--idle", "11", "--bpffs", unmounted, "legacy.service"}, timeout: 30 * time.Second}.exec(t)
	var sfs unix.Statfs_t
	if unix.Statfs(unmounted, &sfs) == nil && sfs.Type == 0xcafe4a11 {
		t.Cleanup(func() { unix.Unmount(unmounted, 0) })
	} else {
		t.Errorf("attach did not mount bpffs at %s", unmounted)
	}
	if r.status != 0 || !strings.Contains(r.stdout, "attached to "+c.dir+":") {
		t.Fatalf("attach legacy.service: want it resolved to %s: %s", c.dir, r)
	}
	if got := c.probe(t, true, probeGoBin, "client", addr); got["idle"] != "11" {
		t.Errorf("after attach by unit name: %s, want idle=11", fields(got))
	}
	r = run{env: env, args: []string{command, "cgroup", "detach", "--bpffs", unmounted, "legacy.service"}, timeout: 30 * time.Second}.exec(t)
	if r.status != 0 {
		t.Errorf("detach legacy.service: %s", r)
	}
	r = run{env: env, args: []string{command, "cgroup", "attach", "--bpffs", unmounted, "other.service"}, timeout: 30 * time.Second}.exec(t)
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
	install("keepalive-cgroup.conf", "legacy.service.d/keepalive-cgroup.conf", here)
	install("keepalive-cgroup.conf", "legacy.socket.d/keepalive-cgroup.conf", socket)
	install("keepalive-bpfprogram.conf", "other.service.d/keepalive-bpfprogram.conf", here)
	verify := func(unit string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "systemd-analyze", "verify", filepath.Join(units, unit))
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":", "SYSTEMD_LOG_COLOR=0")
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	for _, u := range []string{"legacy.service", "legacy.socket", "other.service", "keepalive-load@legacy.service"} {
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
