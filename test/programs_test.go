package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func need(t testing.TB, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		t.Fatalf("%s is not installed: `make test` installs it (scripts/deps)", program)
	}
}

// python3's socket module, read back with its own getsockopt.
func TestPython(t *testing.T) {
	need(t, "python3")
	script := `import socket
for fam in (socket.AF_INET, socket.AF_INET6):
    s = socket.socket(fam, socket.SOCK_STREAM)
    print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
          s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))
`
	control, shimmed := pair(t, tuned, "python3", "-c", script)
	if control.status != 0 || !strings.HasPrefix(control.stdout, "0 ") {
		t.Fatalf("control: %s", control)
	}
	if shimmed.stdout != "1 10 5 3000\n1 10 5 3000\n" || shimmed.status != 0 {
		t.Errorf("python3 under the library: %s", shimmed)
	}
}

// curl fetching from a server that holds the response open: the kernel's
// view of curl's connection (ss) shows the keepalive timer only with the
// library. curl --no-keepalive leaves SO_KEEPALIVE alone itself.
func TestCurlOnTheWire(t *testing.T) {
	need(t, "curl")
	need(t, "ss")
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello "))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("world\n"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, preload := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := run{preload: preload, env: tuned, args: []string{"curl", "-sS", "--no-keepalive", fmt.Sprintf("http://127.0.0.1:%d/", port)}}.command(ctx)
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var ss string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			b, _ := exec.Command("ss", "-tnoH", "state", "established", fmt.Sprintf("( dport = :%d )", port)).Output()
			if ss = string(b); ss != "" {
				break
			}
		}
		release <- struct{}{}
		err := cmd.Wait()
		cancel()
		if err != nil || out.String() != "hello world\n" {
			t.Errorf("preload %v: curl: %v, %q", preload, err, out.String())
		}
		hasTimer := regexp.MustCompile(`timer:\(keepalive,`).MatchString(ss)
		if ss == "" || hasTimer != preload {
			t.Errorf("preload %v: ss shows %q; want a keepalive timer only with the library", preload, ss)
		}
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
		t.Skipf("SKIPPED LOUDLY: unshare -U fails here even without the library: %s", r)
	}
	forModes(t, func(t *testing.T, m mode) {
		r := run{preload: true, env: m.env, args: []string{"unshare", "-U", "true"}}.exec(t)
		if r.status != 0 {
			t.Errorf("unshare -U fails under the library: %s", r)
		}
		m.check(t, r)
	})
}
