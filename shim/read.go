package shim

import (
	"errors"
	"fmt"
	"syscall"
)

// ReadFile reads the configuration file at path the way the library does,
// and parses it. named says the user chose the path (KEEPALIVE_CONFIG): a
// missing file is then a problem; the default file may be absent.
//
// The file is opened non-blocking and without becoming a controlling
// terminal, and only a regular file is read: a FIFO with no writer would
// hang the host, /dev/stdin would eat its input, a terminal would become a
// daemon's controlling terminal.
func ReadFile(path string, named bool) File {
	text, err := readRegular(path)
	if err == nil {
		return ParseFile(path, text)
	}
	f := ParseFile(path, nil)
	var e syscall.Errno
	if errors.As(err, &e) && e == syscall.ENOENT {
		if !named {
			return f
		}
		err = errors.New(MsgMissing)
	}
	f.Problems = append([]Problem{{Var: -1, Path: path, Err: err}}, f.Problems...)
	return f
}

// readRegular reads at most FileMax+1 bytes, enough to tell a file that is
// too long.
func readRegular(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, openError(err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, openError(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf(MsgNotRegular, fileKind(st.Mode))
	}
	buf := make([]byte, FileMax+1)
	n := 0
	for n < len(buf) {
		r, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, openError(err)
		}
		if r == 0 {
			break
		}
		n += r
	}
	return buf[:n], nil
}

// openError words an errno as C does; ENOENT stays an Errno for ReadFile.
func openError(err error) error {
	e, ok := err.(syscall.Errno)
	if !ok {
		return err
	}
	if e == syscall.ENOENT {
		return e
	}
	return fmt.Errorf(MsgCannotRead, errnoWords(e))
}
