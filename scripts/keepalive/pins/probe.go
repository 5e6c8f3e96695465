package pins

// What the kernel and the caller allow, and failed BPF calls in words.

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

const (
	bpfFsMagic     = 0xcafe4a11
	kernelNeeds    = "keepalive cgroup needs Linux 5.9 or newer with BPF (sock_ops programs with bpf_setsockopt of the keepalive options, cgroup links)"
	permissionNote = "loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)"
)

// Probe finds out about permission and the kernel before bpffs is touched.
func Probe() error {
	m, err := ebpf.NewMap(sockops.SettingsSpec())
	if err != nil {
		return errors.New(Explain("creating a BPF map", err))
	}
	m.Close()
	return nil
}

// Explain is one line for a failed BPF call: the cause a human can act on
// (permission, an old kernel) before the kernel's words.
func Explain(what string, err error) string {
	release := KernelRelease()
	first := strings.SplitN(err.Error(), "\n", 2)[0]
	var ve *ebpf.VerifierError
	switch {
	case errors.Is(err, os.ErrPermission):
		// The kernel's errno alone: the library's hint about MEMLOCK is
		// not the cause on kernels that account BPF memory to the cgroup.
		var errno unix.Errno
		if errors.As(err, &errno) {
			first = errno.Error()
		}
		return fmt.Sprintf("%s: %s: %s", what, first, permissionNote)
	case errors.Is(err, ebpf.ErrNotSupported), errors.As(err, &ve), errors.Is(err, unix.EINVAL):
		return fmt.Sprintf("%s: %s: this kernel is %s; %s", what, first, release, kernelNeeds)
	}
	return fmt.Sprintf("%s: %s", what, first)
}

// KernelRelease is uname -r, or "unknown".
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
