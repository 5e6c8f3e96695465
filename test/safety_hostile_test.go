package test

// Safe inside the host: hosts that behave differently with the library
// than without it (odd descriptors, limits, configuration files).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/shim"
)

// Hosts that behave differently with the library than without it are the
// worst bug it can have. Each case here is a host that once did (issue 9),
// run without the library (the control) and with it; the host's output, its
// exit status and what its peers receive must be the same.

// spawn runs r with the given standard descriptors (nil: /dev/null for
// stdin, captured for stdout and stderr) and returns its stdout as
// captured and its status; 30 s is a hang.
func spawn(t *testing.T, r run, stdin, stdout, stderr *os.File, attr *syscall.SysProcAttr) (string, syscall.WaitStatus) {
	t.Helper()
	r.stdin, r.stdout, r.stderr, r.attr = stdin, stdout, stderr, attr
	if r.timeout == 0 {
		r.timeout = 30 * time.Second
	}
	res := r.exec(t)
	return res.stdout, res.status
}

// want compares one run with its control: same status, and stdout as
// expected for each (the library turns keepalive on: ka=0 becomes ka=1).
func wantSame(t *testing.T, what string, control, shimmed string, cs, ss syscall.WaitStatus, wantControl, wantShimmed string) {
	t.Helper()
	if cs != 0 || control != wantControl {
		t.Fatalf("%s, control: status %s, stdout %q, want %q: the case proves nothing", what, describeStatus(cs), control, wantControl)
	}
	if ss != cs || shimmed != wantShimmed {
		t.Errorf("%s, with the library: status %s, stdout %q; want status %s, stdout %q", what, describeStatus(ss), shimmed, describeStatus(cs), wantShimmed)
	}
}

const (
	helloOff = "hello ka=0\nPASS\n"
	helloOn  = "hello ka=1\nPASS\n"
)

// badConfig is a configuration file with a bad line and a bad value.
func badConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "keepalive.conf")
	if err := os.WriteFile(p, []byte("KEEPIDLE=abc\nnot a setting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// An inetd-style service: descriptors 0-2 are the client's TCP connection.
// The client must receive the service's bytes and nothing of ours.
func TestSafetyInetdService(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"bad value", []string{"KEEPIDLE=abc"}},
		{"bad file", []string{"KEEPALIVE_CONFIG=" + badConfig(t)}},
		{"missing file", []string{"KEEPALIVE_CONFIG=/nonexistent/keepalive.conf"}},
		{"debug", []string{"KEEPALIVE_DEBUG=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			var status [2]syscall.WaitStatus
			for i, preload := range []bool{false, true} {
				got[i], status[i] = inetd(t, run{preload: preload, env: tc.env, args: []string{"hostile", "socket"}})
			}
			wantSame(t, tc.name, got[0], got[1], status[0], status[1], helloOff, helloOn)
		})
	}
}

// inetd accepts one loopback connection, runs r on it as inetd would, and
// returns what the client received.
func inetd(t *testing.T, r run) (string, syscall.WaitStatus) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	received := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			received <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(c)
		received <- string(b)
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, status := spawn(t, r, f, f, f, nil)
	f.Close()
	return <-received, status
}

// A daemon that closed stderr: its next descriptor is 2. The library's
// debug line must go neither into the daemon's socket (SIGPIPE, status 141)
// nor into its data file.
func TestSafetyClosedStderr(t *testing.T) {
	env := []string{"KEEPALIVE_DEBUG=1"}
	c, cs := spawn(t, run{env: env, args: []string{"hostile", "closed-stderr"}}, nil, nil, nil, nil)
	s, ss := spawn(t, run{preload: true, env: env, args: []string{"hostile", "closed-stderr"}}, nil, nil, nil, nil)
	wantSame(t, "socket() returns 2", c, s, cs, ss, "fd=2 ka=0\nPASS\n", "fd=2 ka=1\nPASS\n")

	for i, preload := range []bool{false, true} {
		data := filepath.Join(t.TempDir(), "data")
		out, st := spawn(t, run{preload: preload, env: env, args: []string{"hostile", "stderr-data", data}}, nil, nil, nil, nil)
		b, _ := os.ReadFile(data)
		want := fmt.Sprintf("data=2 fd=3 ka=%d\nPASS\n", i)
		if st != 0 || out != want || string(b) != "the daemon's own data\n" {
			t.Errorf("data file as descriptor 2 (preload %v): status %s, stdout %q (want %q), data file %q", preload, describeStatus(st), out, want, b)
		}
	}
}

// stderrPipe makes a pipe for a host's stderr: with no reader left, or full
// with a reader that never reads.
func stderrPipe(t *testing.T, full bool) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if !full {
		r.Close()
		return w
	}
	fd := int(w.Fd())
	syscall.SetNonblock(fd, true)
	chunk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fd, chunk); err != nil {
			break
		}
	}
	syscall.SetNonblock(fd, false)
	return w
}

// A broken pipe must not kill the host with SIGPIPE, and a full one must not
// block it: in both the host runs exactly as without the library.
func TestSafetyStderrPipes(t *testing.T) {
	for _, full := range []bool{false, true} {
		for _, env := range [][]string{{"KEEPALIVE_DEBUG=1"}, {"KEEPIDLE=abc"}, {"KEEPALIVE_CONFIG=" + badConfig(t)}} {
			name := fmt.Sprintf("full=%v %s", full, env[0])
			t.Run(name, func(t *testing.T) {
				c, cs := spawn(t, run{env: env, args: []string{"hostile", "socket"}}, nil, nil, stderrPipe(t, full), nil)
				s, ss := spawn(t, run{preload: true, env: env, args: []string{"hostile", "socket"}}, nil, nil, stderrPipe(t, full), nil)
				wantSame(t, name, c, s, cs, ss, helloOff, helloOn)
			})
		}
	}
}

// Under every limit where the host runs without the library, it runs with
// it too, and the bad value is still reported, in shim's words.
func TestSafetyBadValueUnderLimits(t *testing.T) {
	env := []string{"KEEPIDLE=abc"}
	_, probs := shim.Load(map[string]string{"KEEPIDLE": "abc"})
	want := probs[0].Message() + "\n"
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cases := []struct {
		name   string
		launch []string
		attr   *syscall.SysProcAttr
	}{
		{"ulimit -v 300000", []string{"-v", "300000"}, nil},
		{"ulimit -d 80000", []string{"-d", "80000"}, nil},
		{"ulimit -d 20000", []string{"-d", "20000"}, nil},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name   string
			launch []string
			attr   *syscall.SysProcAttr
		}{"nobody, ulimit -u 1", []string{"-u", "1"}, nobody})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.attr != nil {
				shareable(t)
			}
			args := append(append([]string{"launch"}, tc.launch...), program("hostile"), "socket")
			c, cs := spawn(t, run{env: env, args: args}, nil, nil, nil, tc.attr)
			withLib := append(append(append([]string{"launch"}, tc.launch...), "-p", lib), program("hostile"), "socket")
			errf := tempFile(t)
			s, ss := spawn(t, run{env: env, args: withLib}, nil, nil, errf, tc.attr)
			wantSame(t, tc.name, c, s, cs, ss, helloOff, helloOn)
			if got := readBack(t, errf); got != want {
				t.Errorf("stderr %q, want %q", got, want)
			}
		})
	}
	t.Run("cgroup pids.max 1", func(t *testing.T) {
		cg := pidsCgroup(t)
		if err := os.WriteFile(filepath.Join(cg, "pids.max"), []byte("1"), 0o644); err != nil {
			t.Fatalf("cannot set pids.max in %s: %v", cg, err)
		}
		// The host joins the cgroup itself, then becomes the program: it is
		// the cgroup's one process, and a thread more would be refused.
		join := `echo $$ > "$1/cgroup.procs" && exec "$2" socket`
		c, cs := spawn(t, run{env: env, args: []string{"sh", "-c", join, "sh", cg, program("hostile")}}, nil, nil, nil, nil)
		errf := tempFile(t)
		withLib := `echo $$ > "$1/cgroup.procs" && LD_PRELOAD="$3" exec "$2" socket`
		s, ss := spawn(t, run{env: env, args: []string{"sh", "-c", withLib, "sh", cg, program("hostile"), lib}}, nil, nil, errf, nil)
		wantSame(t, "pids.max 1", c, s, cs, ss, helloOff, helloOn)
		if got := readBack(t, errf); got != want {
			t.Errorf("stderr %q, want %q", got, want)
		}
	})
}

// shareable makes the drivers' directory reachable by another user.
func shareable(t *testing.T) {
	for d := bin; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				t.Fatalf("cannot open %s to another user: %v", d, err)
			}
		}
	}
}

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readBack(t *testing.T, f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pidsCgroup makes a cgroup with the pids controller for the test (cgroup
// v2 if it has the controller, else v1's pids hierarchy), from mountinfo,
// and removes it afterwards.
func pidsCgroup(t *testing.T) string {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: making a cgroup needs root")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	root := ""
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		for i, fl := range fields {
			if fl != "-" || i+3 >= len(fields) {
				continue
			}
			switch {
			case fields[i+1] == "cgroup2":
				ctl, _ := os.ReadFile(filepath.Join(fields[4], "cgroup.controllers"))
				if strings.Contains(string(ctl), "pids") {
					os.WriteFile(filepath.Join(fields[4], "cgroup.subtree_control"), []byte("+pids"), 0o644)
					root = fields[4]
				}
			case fields[i+1] == "cgroup" && strings.Contains(","+fields[i+3]+",", ",pids,") && root == "":
				root = fields[4]
			}
		}
	}
	if root == "" {
		t.Skip("SKIPPED LOUDLY: no cgroup hierarchy with the pids controller is mounted here")
	}
	cg := filepath.Join(root, "libkeepalive-test-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Mkdir(cg, 0o755); err != nil {
		var fs unix.Statfs_t
		if unix.Statfs(root, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0 {
			t.Skipf("SKIPPED LOUDLY: the cgroup hierarchy %s is mounted read-only here (statfs): %v", root, err)
		}
		t.Fatalf("cannot make a cgroup under %s: %v", root, err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.Remove(cg) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	return cg
}

// The configuration file can be anything a user names. Only a regular file
// is read; anything else gets one line and the host runs on.
func TestSafetyHostileConfigFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "shadow")
	os.WriteFile(secret, []byte("root:$6$secretsalt$secrethash:19000:0:99999:7:::\n"), 0o644)
	for _, tc := range []struct {
		name, path, words string
	}{
		{"FIFO without a writer", fifo, "is a FIFO, not a regular file"},
		{"directory", dir, "is a directory, not a regular file"},
		{"missing", filepath.Join(dir, "nope.conf"), "does not exist"},
		{"not a settings file", secret, secret + ":1 is not a setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"KEEPALIVE_CONFIG=" + tc.path}
			c, cs := spawn(t, run{env: env, args: []string{"hostile", "socket"}}, nil, nil, nil, nil)
			errf := tempFile(t)
			s, ss := spawn(t, run{preload: true, env: env, args: []string{"hostile", "socket"}}, nil, nil, errf, nil)
			wantSame(t, tc.name, c, s, cs, ss, helloOff, helloOn)
			got := readBack(t, errf)
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, tc.words) {
				t.Errorf("stderr %q, want one line with %q", got, tc.words)
			}
			if strings.Contains(got, "secret") {
				t.Errorf("a line that is not a setting reached the user: %q", got)
			}
		})
	}

	// /dev/stdin: the host's input stays the host's.
	t.Run("/dev/stdin", func(t *testing.T) {
		var out [2]string
		for i, preload := range []bool{false, true} {
			r, w, _ := os.Pipe()
			w.WriteString("a\nb\n")
			w.Close()
			out[i], _ = spawn(t, run{preload: preload, env: []string{"KEEPALIVE_CONFIG=/dev/stdin"}, args: []string{"cat"}}, r, nil, nil, nil)
			r.Close()
		}
		if out[0] != "a\nb\n" || out[1] != out[0] {
			t.Errorf("cat's output: without %q, with %q", out[0], out[1])
		}
	})

	// A terminal: a daemon that called setsid must not get it as its
	// controlling terminal.
	t.Run("terminal", func(t *testing.T) {
		need(t, "setsid")
		pts := openPty(t)
		script := `read pid comm state ppid pgrp session tty rest < /proc/$$/stat; echo "tty=$tty"`
		var out [2]string
		for i, preload := range []bool{false, true} {
			out[i], _ = spawn(t, run{preload: preload, env: []string{"KEEPALIVE_CONFIG=" + pts}, args: []string{"setsid", "sh", "-c", script}}, nil, nil, nil, nil)
		}
		if out[0] != "tty=0\n" || out[1] != out[0] {
			t.Errorf("controlling terminal after setsid: without %q, with %q", out[0], out[1])
		}
	})
}

// openPty opens a pseudo-terminal and returns its slave's path; the master
// stays open for the test.
func openPty(t *testing.T) string {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		if _, serr := os.Stat("/dev/ptmx"); serr != nil {
			t.Skipf("SKIPPED LOUDLY: no pseudo-terminals here (no /dev/ptmx): %v", err)
		}
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	return "/dev/pts/" + strconv.Itoa(int(n))
}

// accept() with a 1-byte address buffer that ends a page: the kernel says
// the address is longer, but only one byte is ours to read.
func TestSafetyAcceptTinyAddressBuffer(t *testing.T) {
	c, cs := spawn(t, run{args: []string{"hostile", "accept-guard"}}, nil, nil, nil, nil)
	s, ss := spawn(t, run{preload: true, args: []string{"hostile", "accept-guard"}}, nil, nil, nil, nil)
	wantSame(t, "accept-guard", c, s, cs, ss, "accepted=1 len=16 ka=0\nPASS\n", "accepted=1 len=16 ka=1\nPASS\n")
}

// A program started with argc == 0 (kernels before 5.18 allow it; later
// ones give it an empty argv[0]) and an exclude list to test its name.
func TestSafetyArgcZero(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "keepalive.conf")
	os.WriteFile(conf, []byte("KEEPALIVE_EXCLUDE=sshd\n"), 0o644)
	env := []string{"KEEPALIVE_CONFIG=" + conf}
	for _, preload := range []bool{false, true} {
		r := run{env: env, args: []string{"hostile", "argc0", "/bin/true"}}
		if preload {
			r.env = append(r.env, "LD_PRELOAD="+lib)
		}
		out, st := spawn(t, r, nil, nil, nil, nil)
		if st != 0 || out != "" {
			t.Errorf("argc 0 (preload %v): status %s, stdout %q", preload, describeStatus(st), out)
		}
	}
}

// Where stderr cannot take the report (here: closed), it goes to syslog.
func TestSafetyReportToSyslog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the syslog case needs root for a private /dev")
	}
	need(t, "unshare")
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	script := `mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 && touch /dev/log && mount --bind "$1" /dev/log && exec 2>&- && exec env LD_PRELOAD="$2" KEEPIDLE=abc "$3" socket`
	out, st := spawn(t, run{args: []string{"unshare", "-m", "sh", "-c", script, "sh", sock, lib, program("hostile")}}, nil, nil, nil, nil)
	if st != 0 || out != helloOn {
		t.Fatalf("host under the library with stderr closed: status %s, stdout %q, want %q", describeStatus(st), out, helloOn)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no syslog message: %v", err)
	}
	_, probs := shim.Load(map[string]string{"KEEPIDLE": "abc"})
	msg := string(buf[:n])
	rest, ok := strings.CutPrefix(msg, "<12>libkeepalive[")
	_, text, _ := strings.Cut(rest, "]: ")
	if !ok || shim.Prefix+text != probs[0].Message() {
		t.Errorf("syslog got %q, want <12>libkeepalive[PID]: and %q", msg, strings.TrimPrefix(probs[0].Message(), shim.Prefix))
	}
}
