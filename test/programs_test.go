package test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// python3's socket module, read back with its own getsockopt.
func TestPython(t *testing.T) {
	need(t, "python3")
	script := pyScript("sockopts.py")
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
