// Package cgroupv2 finds the cgroup v2 directory the cgroup mode works on:
// from a directory, or from a systemd unit through systemd itself, under
// the cgroup2 mount wherever the host has it.
package cgroupv2

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const magic = 0x63677270 // CGROUP2_SUPER_MAGIC

// Dir is a resolved cgroup: its absolute path and its id (the directory's
// inode number on cgroup v2, as BPF links and programs report it).
type Dir struct {
	Path string
	ID   uint64
}

// Resolve turns a directory or a systemd unit into the cgroup v2 directory.
// A bare name (no '/') is a unit unless it names a cgroup v2 directory here:
// an operator in /etc/systemd/system who types legacy.service means the
// unit, not the unit file beside them. With mustExist false a directory that
// is gone still resolves, with ID 0 (detach and status of a stopped unit's
// pins). A relative path that is not there is looked for under the cgroup2
// mount, as systemd-cgls and /proc/PID/cgroup write them
// (system.slice/legacy.service).
func Resolve(arg string, mustExist bool) (Dir, error) {
	path := arg
	if !strings.Contains(arg, "/") && arg != "." && arg != ".." && !isCgroupDir(arg) {
		p, err := UnitCgroup(arg)
		if err != nil {
			return Dir{}, err
		}
		path = p
	} else if !filepath.IsAbs(arg) && !strings.HasPrefix(arg, "./") && !strings.HasPrefix(arg, "../") {
		if _, err := os.Lstat(arg); errors.Is(err, os.ErrNotExist) {
			if mounts, err := Mounts(); err == nil {
				if under := filepath.Join(mounts[0], arg); isCgroupDir(under) || !mustExist {
					path = under
				}
			}
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Dir{}, err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Statfs(abs, &sfs); err != nil {
		if !mustExist && errors.Is(err, unix.ENOENT) {
			return Dir{Path: abs}, nil
		}
		if _, merr := Mounts(); merr != nil {
			return Dir{}, merr
		}
		return Dir{}, fmt.Errorf("cgroup %s: %w: want a cgroup v2 directory or a systemd unit", abs, err)
	}
	if sfs.Type != magic {
		mounts, merr := Mounts()
		if merr != nil {
			return Dir{}, merr
		}
		return Dir{}, fmt.Errorf("%s is not a cgroup v2 directory (cgroup v2 is mounted at %s)", abs, strings.Join(mounts, ", "))
	}
	if err := unix.Stat(abs, &st); err != nil {
		return Dir{}, fmt.Errorf("cgroup %s: %w", abs, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return Dir{}, fmt.Errorf("%s is not a cgroup v2 directory (a file of the cgroup, not the cgroup)", abs)
	}
	return Dir{Path: abs, ID: st.Ino}, nil
}

func isCgroupDir(path string) bool {
	var sfs unix.Statfs_t
	st, err := os.Stat(path)
	return err == nil && st.IsDir() && unix.Statfs(path, &sfs) == nil && sfs.Type == magic
}

// UnitCgroup asks systemd for a unit's cgroup and finds it under the cgroup2
// mount (which is /sys/fs/cgroup/unified on hybrid hosts, not /sys/fs/cgroup).
// The unit name goes to systemctl as the operator wrote it (escapes such as
// \x2d are systemd's own), after "--" so that a name like -.slice is a name.
func UnitCgroup(unit string) (string, error) {
	out, err := exec.Command("systemctl", "show", "-p", "ControlGroup", "--value", "--", unit).Output()
	if err != nil {
		detail := err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			detail = strings.TrimSpace(strings.SplitN(string(ee.Stderr), "\n", 2)[0])
		}
		return "", fmt.Errorf("%s is neither a directory nor a systemd unit systemctl can show (%s); give the cgroup v2 directory", unit, detail)
	}
	rel := strings.TrimSpace(string(out))
	if rel == "" {
		return "", fmt.Errorf("systemd unit %s has no cgroup (is it running?); start it first, or give the cgroup v2 directory", unit)
	}
	mounts, err := Mounts()
	if err != nil {
		return "", err
	}
	return filepath.Join(mounts[0], rel), nil
}

// Mounts lists the cgroup2 mount points of /proc/self/mountinfo, the one of
// the whole hierarchy first.
func Mounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cannot read /proc/self/mountinfo to find cgroup v2: %w", err)
	}
	defer f.Close()
	var whole, other []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, postf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postf) < 1 || postf[0] != "cgroup2" {
			continue
		}
		mp := UnescapeMount(fields[4])
		if fields[3] == "/" {
			whole = append(whole, mp)
		} else {
			other = append(other, mp)
		}
	}
	if all := append(whole, other...); len(all) > 0 {
		return all, nil
	}
	return nil, errors.New("no cgroup v2 file system is mounted (no cgroup2 line in /proc/self/mountinfo): keepalive cgroup needs cgroup v2; the preload works without it")
}

// UnescapeMount undoes mountinfo's octal escapes (\040 for a space).
func UnescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Procs lists the processes of dir and of every cgroup beneath it (a
// slice's services, a container's inner cgroups), from cgroup.procs. A
// child cgroup removed while it is read is skipped: its processes are gone.
func Procs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if path != dir && errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, err
}
