// Command preload is libkeepalive.so, built with -buildmode=c-shared.
//
// The per-socket work is C (socket.c, accept.c, configure.c): it runs inside
// the host's calls, in forked children and in signal handlers, where calling
// into Go can hang. Go's part runs once, in init, and only in a process that
// has something to report (the runtime does not start otherwise, see
// README.md): it reads the configuration with the rules of package shim and
// tells the user, one line each, about every value it could not accept.
package main

/*
#include "preload.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/shim"
	// The C reader of the configuration, called by the preload path.
	_ "github.com/libkeepalive/libkeepalive/shim/cparse"
)

func init() {
	report()
	C.ka_reported()
}

func report() {
	environ := map[string]string{}
	for _, kv := range unix.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			environ[k] = v
		}
	}
	// The constructor read the file before the runtime started: a runtime
	// thread opening a file while the host runs could take a descriptor
	// number the host is about to reuse.
	var n C.size_t
	var errno C.int
	text := C.ka_report_file(&n, &errno)
	path := C.GoString(C.ka_config_path())
	file := shim.ParseFile(path, C.GoBytes(unsafe.Pointer(text), C.int(n)))
	if errno != 0 && syscall.Errno(errno) != syscall.ENOENT {
		file.Problems = append(file.Problems, shim.Problem{Var: -1, Where: path,
			Err: fmt.Errorf("cannot be read (%v); the whole file is ignored", syscall.Errno(errno))})
	}
	cfg, problems := shim.LoadWith(environ, file)
	var b strings.Builder
	for _, p := range problems {
		b.WriteString(p.Message())
		b.WriteByte('\n')
	}
	if cfg.Debug.Set && cfg.Debug.Value == 1 && C.ka_secure() != 0 {
		b.WriteString("libkeepalive: KEEPALIVE_DEBUG=" + environ[shim.Rules[shim.VarDebug].Var] +
			" is ignored in a setuid, setgid or file-capability process; debug lines stay off\n")
	}
	// One write(2), not an os.File: nothing of the host's stderr (its
	// flags, a poller) is taken over.
	if b.Len() > 0 {
		unix.Write(unix.Stderr, []byte(b.String()))
	}
}

func main() {}
