package cgroupv2

import "testing"

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
