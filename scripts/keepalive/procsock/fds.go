package procsock

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// FD is a descriptor of a process that was a socket when it was listed.
type FD struct {
	Num   int
	Inode uint64
}

// Sockets lists the descriptors of pid that are sockets, by /proc/PID/fd.
func Sockets(pid int) ([]FD, error) {
	proc := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var fds []FD
	for _, e := range ents {
		target, err := os.Readlink(proc + e.Name())
		ino, ok := strings.CutPrefix(target, "socket:[")
		if err != nil || !ok {
			continue
		}
		n, err1 := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 64)
		fd, err2 := strconv.Atoi(e.Name())
		if err1 == nil && err2 == nil {
			fds = append(fds, FD{fd, n})
		}
	}
	return fds, nil
}

// ErrChanged is a descriptor closed, or reused for another file, between
// the listing and the read: what it holds now is not the socket listed.
var ErrChanged = errors.New("the descriptor was closed or reused since it was listed")

// Options are a socket's keepalive options, as getsockopt gives them; -1
// for one the kernel would not give.
type Options struct {
	Keepalive, Idle, Intvl, Cnt, UserTimeout int
}

// Read reads the options of fd of the process behind pidfd from a
// duplicate of it (pidfd_getfd, Linux 5.6, which needs the right to ptrace
// the process), once it is sure the duplicate is the socket listed.
func Read(pidfd int, fd FD) (Options, error) {
	dup, err := unix.PidfdGetfd(pidfd, fd.Num, 0)
	if err != nil {
		return Options{}, err
	}
	defer unix.Close(dup)
	var st unix.Stat_t
	if err := unix.Fstat(dup, &st); err != nil || st.Ino != fd.Inode || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return Options{}, ErrChanged
	}
	ka, err := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	if err != nil {
		return Options{}, err
	}
	get := func(opt int) int {
		v, err := unix.GetsockoptInt(dup, unix.IPPROTO_TCP, opt)
		if err != nil {
			return -1
		}
		return v
	}
	return Options{ka, get(unix.TCP_KEEPIDLE), get(unix.TCP_KEEPINTVL), get(unix.TCP_KEEPCNT), get(unix.TCP_USER_TIMEOUT)}, nil
}
