// Command cgprobe is the cgroup tests' static Go program (CGO_ENABLED=0:
// raw system calls, which no preload sees). It prints its connection's
// options as the kernel has them.
package main

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
