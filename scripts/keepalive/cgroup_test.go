package main

import (
	"testing"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// A pin directory's name gives back its cgroup's path, for status and for
// detach of a cgroup that is gone.
func TestEscapePin(t *testing.T) {
	for _, p := range []string{"/sys/fs/cgroup/unified/system.slice/legacy.service", "/", "/a+b/c%d/e f/\x01/ü",
		"/sys/fs/cgroup/system.slice/system-getty.slice/getty@tty1.service"} {
		e := escapePin(p)
		for i := 0; i < len(e); i++ {
			if e[i] == '/' || e[i] < ' ' || e[i] > '~' {
				t.Errorf("escapePin(%q) = %q: byte %q", p, e, e[i])
			}
		}
		if back := unescapePin(e); back != p {
			t.Errorf("unescapePin(escapePin(%q)) = %q (via %q)", p, back, e)
		}
	}
}

func TestMountinfoEscapes(t *testing.T) {
	if got := unescapeMount(`/mnt/with\040space\134x`); got != `/mnt/with space\x` {
		t.Errorf("got %q", got)
	}
	if got := unescapeMount(`/end\04`); got != `/end\04` {
		t.Errorf("a cut escape: got %q", got)
	}
}

// The settings map holds what the flags say, in the units of the options.
func TestSettingsFromFlags(t *testing.T) {
	vals := []string{"2m", "10", "5", "2500ms"}
	ptrs := make([]*string, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	set := map[string]bool{"idle": true, "interval": true, "count": true, "user-timeout": true}
	s, ok := settingsFromFlags(ptrs, set, true, nil)
	want := sockops.Settings{Flags: sockops.Force | sockops.HasIdle | sockops.HasIntvl | sockops.HasCnt | sockops.HasUserTimeout,
		Idle: 120, Intvl: 10, Cnt: 5, UserTimeout: 2500}
	if !ok || s != want {
		t.Errorf("got %+v %v, want %+v", s, ok, want)
	}
	back, err := sockops.UnmarshalSettings(s.Marshal())
	if err != nil || back != s {
		t.Errorf("marshal round trip: %+v %v", back, err)
	}
	s, ok = settingsFromFlags(ptrs, map[string]bool{"count": true}, false, nil)
	if !ok || s != (sockops.Settings{Flags: sockops.HasCnt, Cnt: 5}) {
		t.Errorf("only --count: %+v", s)
	}
}
