package apply

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/procsock"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

var settings = sockops.Settings{Flags: sockops.HasIdle, Idle: 42}

func keepalive(t *testing.T, fd int) (on, idle int) {
	t.Helper()
	on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		t.Fatal(err)
	}
	idle, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if err != nil {
		t.Fatal(err)
	}
	return on, idle
}

func tcpSocket(t *testing.T) (fd int, inode uint64) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fd, st.Ino
}

func selfPidfd(t *testing.T) int {
	t.Helper()
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: pidfd_open refused here (Linux 5.3): %v", err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	return pidfd
}

// A descriptor listed as one socket and then closed, or reused for another
// socket or a pipe, before the duplicate: nothing gets the settings, and
// the outcome is Gone. The control: the listed socket itself gets them.
func TestSetReusedDescriptor(t *testing.T) {
	pidfd := selfPidfd(t)
	listed, inode := tcpSocket(t)
	defer unix.Close(listed)
	if o, err := set(pidfd, procsock.FD{Num: listed, Inode: inode}, settings); o != Changed || err != nil {
		t.Fatalf("control: the listed socket: %v %v", o, err)
	}
	if on, idle := keepalive(t, listed); on != 1 || idle != 42 {
		t.Fatalf("control: the listed socket has keepalive %d idle %d, want 1 and 42", on, idle)
	}

	other, _ := tcpSocket(t)
	defer unix.Close(other)
	stale, _ := tcpSocket(t)
	unix.Dup2(other, stale) // stale's number now names other
	defer unix.Close(stale)
	if o, err := set(pidfd, procsock.FD{Num: stale, Inode: inode}, settings); o != Gone || err != nil {
		t.Errorf("reused for another socket: %v %v, want gone", o, err)
	}
	if on, _ := keepalive(t, other); on != 0 {
		t.Errorf("the socket that reused the descriptor got keepalive")
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if o, err := set(pidfd, procsock.FD{Num: p[0], Inode: inode}, settings); o != Gone || err != nil {
		t.Errorf("reused for a pipe: %v %v, want gone", o, err)
	}
	closed, cinode := tcpSocket(t)
	unix.Close(closed)
	if o, err := set(pidfd, procsock.FD{Num: closed, Inode: cinode}, settings); o != Gone || err != nil {
		t.Errorf("closed: %v %v, want gone", o, err)
	}
}

// A socket whose program turned keepalive on keeps its own settings unless
// forced; the forced one gets them.
func TestSetOwnKeepalive(t *testing.T) {
	pidfd := selfPidfd(t)
	fd, inode := tcpSocket(t)
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15)
	if o, _ := set(pidfd, procsock.FD{Num: fd, Inode: inode}, settings); o != LeftAlone {
		t.Errorf("own keepalive: %v, want left alone", o)
	}
	if _, idle := keepalive(t, fd); idle != 15 {
		t.Errorf("own keepalive: idle %d after the apply, want its own 15", idle)
	}
	forced := settings
	forced.Flags |= sockops.Force
	if o, _ := set(pidfd, procsock.FD{Num: fd, Inode: inode}, forced); o != Changed {
		t.Errorf("forced: %v, want changed", o)
	}
	if _, idle := keepalive(t, fd); idle != 42 {
		t.Errorf("forced: idle %d, want 42", idle)
	}
}

// A value the kernel refuses is Failed with the option named.
func TestSetRefusedValue(t *testing.T) {
	pidfd := selfPidfd(t)
	fd, inode := tcpSocket(t)
	defer unix.Close(fd)
	bad := sockops.Settings{Flags: sockops.HasCnt, Cnt: 1000} // TCP_KEEPCNT is at most 127
	o, err := set(pidfd, procsock.FD{Num: fd, Inode: inode}, bad)
	if o != Failed || err == nil || !strings.Contains(err.Error(), "TCP_KEEPCNT 1000") {
		t.Errorf("TCP_KEEPCNT 1000: %v %v, want failed naming the option", o, err)
	}
}

// A process that does not exist is said to be so.
func TestApplyNoProcess(t *testing.T) {
	if p := NewRun(sockops.Policy{Default: settings}).Apply(1<<22 + 1); p.Err != ErrNoProcess {
		t.Errorf("no process: %v", p.Err)
	}
}
