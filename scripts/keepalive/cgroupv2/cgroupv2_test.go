package cgroupv2

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/mnt/with\040space\134x`, `/mnt/with space\x`},
		{`/end\04`, `/end\04`}, // a cut escape stays as it is
		{`/sys/fs/cgroup`, `/sys/fs/cgroup`},
		{`/a\011tab\012nl`, "/a\ttab\nnl"},
		{`/not\999octal`, `/not\999octal`},
	} {
		if got := UnescapeMount(tc.in); got != tc.want {
			t.Errorf("UnescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Procs reads cgroup.procs of a cgroup and of every one beneath it (a
// tree laid out as cgroupfs has it, in plain directories).
func TestProcs(t *testing.T) {
	dir := t.TempDir()
	for path, procs := range map[string]string{"": "1\n2\n", "a.service": "30\n", "a.service/inner": "", "b.scope": "7\n"} {
		d := filepath.Join(dir, path)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(procs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Procs(dir)
	sort.Ints(got)
	if err != nil || fmt.Sprint(got) != "[1 2 7 30]" {
		t.Errorf("Procs = %v, %v; want [1 2 7 30]", got, err)
	}
	if _, err := Procs(filepath.Join(dir, "gone")); err == nil {
		t.Error("Procs of a cgroup that is not there: no error")
	}
}
