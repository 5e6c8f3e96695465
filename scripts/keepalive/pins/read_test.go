package pins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// These run without root: plain directories stand for bpffs, and reading
// back what is not there must say so, not fail or invent.

// A bpffs with nothing of keepalive's lists nothing; an attachment
// directory without pins is listed, unattached, its cgroup read from its
// name; a load directory without its program is incomplete.
func TestListPlainDirectories(t *testing.T) {
	bpffs := t.TempDir()
	if e, err := List(bpffs, false); err != nil || len(e) != 0 {
		t.Fatalf("an empty bpffs: %v %v", e, err)
	}
	cg := "/sys/fs/cgroup/system.slice/legacy.service"
	os.MkdirAll(AttachedDir(bpffs, cg), 0o755)
	os.MkdirAll(LoadedDir(bpffs, "legacy"), 0o755)
	all, err := List(bpffs, false)
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %+v, %v; want one attachment and one load", all, err)
	}
	a, l := all[0], all[1]
	if a.Kind != KindAttached || a.Where != cg || a.State != StateUnattached || a.Settings != nil || a.Counters != nil {
		t.Errorf("attachment: %+v", a)
	}
	if l.Kind != KindLoaded || l.State != StateIncomplete || l.Where != filepath.Join(LoadedDir(bpffs, "legacy"), OpsProg) {
		t.Errorf("load: %+v", l)
	}
	if only, _ := List(bpffs, true); len(only) != 1 || only[0].Kind != KindAttached {
		t.Errorf("attached only: %+v", only)
	}
}

// A directory whose name is not one Name writes, and without a path map,
// has lost its cgroup's path: an error, and no path made up.
func TestCgroupOfLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "~not-a-name")
	os.Mkdir(dir, 0o755)
	p, err := CgroupOf(dir)
	if p != "" || !errors.Is(err, ErrPathLost) {
		t.Errorf("CgroupOf(%s) = %q, %v; want ErrPathLost", dir, p, err)
	}
	e := ReadAttached(dir)
	if e.Where != "" || e.Name() != dir || !errors.Is(e.WhereErr, ErrPathLost) {
		t.Errorf("ReadAttached: %+v", e)
	}
}

// A directory outside any bpffs is not taken for one; a dotted name inside
// bpffs would be refused, which EnsureBpffs says in its own words.
func TestWithinBpffs(t *testing.T) {
	if in, _ := withinBpffs(filepath.Join(t.TempDir(), "a", "b")); in {
		t.Error("a temporary directory is taken for bpffs")
	}
}

// Explain puts the cause an operator can act on before the kernel's words.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unix.EPERM, permissionNote},
		{ebpf.ErrNotSupported, kernelNeeds},
		{errors.New("something else\nsecond line"), "loading: something else"},
	} {
		got := Explain("loading", tc.err)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
			t.Errorf("Explain(%v) = %q, want it to hold %q on one line", tc.err, got, tc.want)
		}
	}
}
