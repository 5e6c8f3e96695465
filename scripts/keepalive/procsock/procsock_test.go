package procsock

import (
	"errors"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTimerText(t *testing.T) {
	for _, tc := range []struct {
		d    Diag
		want string
	}{
		{Diag{Timer: TimerNone}, "-"},
		{Diag{Timer: TimerKeepalive, Expires: 5748}, "keepalive,6s,0"},
		{Diag{Timer: TimerKeepalive, Expires: 999}, "keepalive,999ms,0"},
		{Diag{Timer: TimerRetrans, Expires: 200, Retrans: 3}, "on,200ms,3"},
		{Diag{Timer: TimerProbe0, Expires: 1500, Retrans: 1}, "persist,2s,1"},
		{Diag{Timer: 3, Expires: 60000}, "timewait,60s,0"},
		{Diag{Timer: 9}, "-"},
	} {
		if got := TimerText(tc.d); got != tc.want {
			t.Errorf("TimerText(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	if got := StateName(1); got != "ESTAB" {
		t.Errorf("StateName(1) = %q", got)
	}
	if got := StateName(10); got != "LISTEN" {
		t.Errorf("StateName(10) = %q", got)
	}
	if got := StateName(42); got != "state-42" {
		t.Errorf("StateName(42) = %q", got)
	}
	if got := Endpoint(netip.MustParseAddrPort("0.0.0.0:0")); got != "0.0.0.0:*" {
		t.Errorf("unset peer: %q", got)
	}
	if got := Endpoint(netip.MustParseAddrPort("[::1]:22")); got != "[::1]:22" {
		t.Errorf("IPv6: %q", got)
	}
}

// A descriptor listed as one socket and replaced by another (or by a pipe)
// before it is read is not read as the listed socket: Read says it changed.
// The control is the same read before the replacement, which gives the
// listed socket's own keepalive.
func TestReadReusedDescriptor(t *testing.T) {
	listed, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(listed)
	if err := unix.SetsockoptInt(listed, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		t.Fatal(err)
	}
	fds, err := Sockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var fd FD
	for _, f := range fds {
		if f.Num == listed {
			fd = f
		}
	}
	if fd.Inode == 0 {
		t.Fatalf("Sockets did not list descriptor %d: %v", listed, fds)
	}
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: pidfd_open refused here (%v): Linux 5.3 needed; the read was not tried", err)
	}
	defer unix.Close(pidfd)
	o, err := Read(pidfd, fd)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("SKIPPED LOUDLY: pidfd_getfd refused here (%v); the read was not tried", err)
	}
	if err != nil || o.Keepalive != 1 {
		t.Fatalf("control, the listed socket: %+v, %v; want keepalive 1", o, err)
	}
	other, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	if err := unix.Dup3(other, listed, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if o, err := Read(pidfd, fd); !errors.Is(err, ErrChanged) {
		t.Errorf("descriptor %d reused for another socket: %+v, %v; want ErrChanged", listed, o, err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if err := unix.Dup3(p[0], listed, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if o, err := Read(pidfd, fd); !errors.Is(err, ErrChanged) {
		t.Errorf("descriptor %d reused for a pipe: %+v, %v; want ErrChanged", listed, o, err)
	}
}
