package pins

// Where the pins live: the bpffs and keepalive's directories in it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Root is the directory of all of keepalive's pins in a bpffs.
func Root(bpffs string) string { return filepath.Join(bpffs, "keepalive") }

// AttachedDir is the directory of a cgroup's pins.
func AttachedDir(bpffs, cgroup string) string {
	return filepath.Join(Root(bpffs), "attached", Name(cgroup))
}

// LoadedDir is the directory of a load's pins; name passed CheckLoadName.
func LoadedDir(bpffs, name string) string { return filepath.Join(Root(bpffs), "loaded", name) }

// Prepare readies this process and bpffs for an attach or a load: the
// memory limit lifted (kernels before 5.11 charge BPF memory to
// RLIMIT_MEMLOCK), the permission and the kernel probed before bpffs is
// touched, bpffs mounted at dir unless one is there.
func Prepare(bpffs string) error {
	rlimit.RemoveMemlock()
	if err := Probe(); err != nil {
		return err
	}
	return EnsureBpffs(bpffs)
}

// EnsureBpffs mounts bpffs at dir unless one is there.
func EnsureBpffs(dir string) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err == nil && uint32(sfs.Type) == bpfFsMagic {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if inside, rest := withinBpffs(dir); inside && strings.Contains(rest, ".") {
			return fmt.Errorf("bpffs: cannot make %s: bpffs refuses names that hold a '.' (%s); give --bpffs a path without one", dir, rest)
		}
		return fmt.Errorf("bpffs: cannot make %s: %w", dir, err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("bpffs: cannot mount it at %s: %w (mount -t bpf bpf %s, or give --bpffs)", dir, err, dir)
	}
	return nil
}

// withinBpffs tells whether the nearest existing ancestor of dir is on a
// bpffs, and the part of dir below it.
func withinBpffs(dir string) (bool, string) {
	rest := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var sfs unix.Statfs_t
		if err := unix.Statfs(d, &sfs); err == nil {
			return uint32(sfs.Type) == bpfFsMagic, rest
		}
		if d == "/" || d == "." {
			return false, rest
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}
