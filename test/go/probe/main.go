// Command probe is the tests' static Go program (CGO_ENABLED=0: raw system
// calls, which no preload sees), in the cgroup tests here and in the guests
// (built on the host by test/systems): only the cgroup mode and keepalive
// apply can reach it.
//
//	probe socks PID          each TCP socket of PID, read from the kernel
//	                         through a pidfd_getfd duplicate, one line each
//	probe client ADDR [-go]  dials ADDR and holds the connection; every
//	                         SIGUSR1 dials one more (the newest has the
//	                         highest descriptor). Go's own keepalive is off
//	                         unless -go (then Go's 15 s default).
//	probe server ADDR        accepts and holds connections, Go's keepalive off
//	probe wait ADDR FILE     dials ADDR (retrying until it answers), blocks
//	                         in Read, and writes when (Unix seconds) and
//	                         how it failed to FILE
//	probe dial ADDR [-go]    dials ADDR once, prints "conn" and the
//	                         connection's options as the kernel has them,
//	                         and ends
//	probe accept ADDR [-go]  listens on ADDR, prints "listening ADDR",
//	                         accepts one connection and prints its "conn"
//	probe wire|busy ADDR [-go]  dials ADDR, sends hello and reads its echo,
//	                         prints "connected" and the options, waits for a
//	                         line on stdin, then (busy: sends 1000 bytes and)
//	                         reads, and prints how the read ended: "error
//	                         ERRNO after SECONDS" or "eof ..."
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: probe socks PID | client ADDR [-go] | server ADDR | wait ADDR FILE | dial|accept|wire|busy ADDR [-go]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "socks":
		err = socks(os.Args[2])
	case "client":
		err = client(os.Args[2], len(os.Args) > 3 && os.Args[3] == "-go")
	case "server":
		err = server(os.Args[2])
	case "wait":
		if len(os.Args) < 4 {
			err = fmt.Errorf("wait ADDR FILE")
			break
		}
		err = wait(os.Args[2], os.Args[3])
	case "dial", "accept", "wire", "busy":
		err = once(os.Args[1], os.Args[2], len(os.Args) > 3 && os.Args[3] == "-go")
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// socks prints, for each TCP socket of pid in descriptor order:
// fd=N state=listen|conn local=A peer=B ka=0|1 idle=S intvl=S cnt=N ut=MS
func socks(arg string) error {
	pid, err := strconv.Atoi(arg)
	if err != nil {
		return fmt.Errorf("PID %q: %v", arg, err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var fds []int
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(target, "socket:") {
			continue
		}
		if n, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, n)
		}
	}
	sort.Ints(fds)
	for _, n := range fds {
		fd, err := unix.PidfdGetfd(pidfd, n, 0)
		if err != nil {
			return fmt.Errorf("pidfd_getfd %d %d: %v", pid, n, err)
		}
		line, ok := describe(fd)
		unix.Close(fd)
		if ok {
			fmt.Printf("fd=%d %s\n", n, line)
		}
	}
	return nil
}

func describe(fd int) (string, bool) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return "", false
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || proto != unix.IPPROTO_TCP {
		return "", false
	}
	get := func(level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil {
			return -1
		}
		return v
	}
	state := "conn"
	if get(unix.SOL_SOCKET, unix.SO_ACCEPTCONN) == 1 {
		state = "listen"
	}
	addr := func(sa unix.Sockaddr, err error) string {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
		case *unix.SockaddrInet6:
			return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
		}
		return "-"
	}
	return fmt.Sprintf("state=%s local=%s peer=%s ka=%d idle=%d intvl=%d cnt=%d ut=%d", state,
		addr(unix.Getsockname(fd)), addr(unix.Getpeername(fd)),
		get(unix.SOL_SOCKET, unix.SO_KEEPALIVE), get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE),
		get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL), get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
		get(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)), true
}

func dialer(goKeepalive bool) *net.Dialer {
	d := &net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	if goKeepalive {
		d.KeepAlive = 0 // Go's default: 15 s
	}
	return d
}

// dialRetry dials until the peer answers (at boot it may not be up yet).
func dialRetry(d *net.Dialer, addr string) net.Conn {
	for {
		c, err := d.Dial("tcp", addr)
		if err == nil {
			return c
		}
		fmt.Fprintln(os.Stderr, "probe: dial:", err, "(again in 0.5 s)")
		time.Sleep(500 * time.Millisecond)
	}
}

func client(addr string, goKeepalive bool) error {
	d := dialer(goKeepalive)
	more := make(chan os.Signal, 8)
	signal.Notify(more, syscall.SIGUSR1)
	var held []net.Conn
	for {
		c := dialRetry(d, addr)
		held = append(held, c)
		fmt.Printf("probe: connection %d to %s from %s\n", len(held), addr, c.LocalAddr())
		<-more
	}
}

func server(addr string) error {
	lc := net.ListenConfig{KeepAlive: -1}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

func wait(addr, file string) error {
	c := dialRetry(dialer(false), addr)
	fmt.Printf("probe: waiting on %s from %s\n", addr, c.LocalAddr())
	if err := os.WriteFile(file+".connected", []byte(time.Now().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 1))
	now := float64(time.Now().UnixNano()) / 1e9
	return os.WriteFile(file, []byte(fmt.Sprintf("failed=%.3f err=%v\n", now, err)), 0o644)
}

// opts is a connection's options as the kernel has them.
func opts(c net.Conn) string {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err.Error()
	}
	var out string
	raw.Control(func(fd uintptr) {
		g := func(level, name int) int {
			v, err := unix.GetsockoptInt(int(fd), level, name)
			if err != nil {
				return -1
			}
			return v
		}
		out = fmt.Sprintf("ka=%d idle=%d intvl=%d cnt=%d ut=%d", g(unix.SOL_SOCKET, unix.SO_KEEPALIVE),
			g(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE), g(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
			g(unix.IPPROTO_TCP, unix.TCP_KEEPCNT), g(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT))
	})
	return out
}

// once is the host tests' modes: one connection, its options printed.
func once(mode, addr string, goKeepalive bool) error {
	ka := time.Duration(-1) // Go turns nothing on
	if goKeepalive {
		ka = 0 // Go's own default: 15 s idle and interval, 9 probes
	}
	if mode == "accept" {
		l, err := (&net.ListenConfig{KeepAlive: ka}).Listen(context.Background(), "tcp", addr)
		if err != nil {
			return err
		}
		fmt.Println("listening", l.Addr())
		c, err := l.Accept()
		if err != nil {
			return err
		}
		fmt.Println("conn", opts(c))
		return nil
	}
	c, err := (&net.Dialer{KeepAlive: ka}).Dial("tcp", addr)
	if err != nil {
		return err
	}
	if mode == "dial" {
		fmt.Println("conn", opts(c))
		return nil
	}
	c.Write([]byte("hello\n"))
	buf := make([]byte, 100)
	if _, err := c.Read(buf[:6]); err != nil {
		return fmt.Errorf("echo: %w", err)
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
	return nil
}
