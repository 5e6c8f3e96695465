package main

import (
	"testing"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

// The settings map holds what the flags say, in the units of the options.
func TestSettingsFromFlags(t *testing.T) {
	vals := []string{"2m", "10", "5", "2500ms"}
	ptrs := make([]*string, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	set := map[string]bool{"idle": true, "interval": true, "count": true, "user-timeout": true}
	env, ok := checkOptions(ptrs, set, nil)
	s := settingsOf(env, true)
	want := sockops.Settings{Flags: sockops.Force | sockops.HasIdle | sockops.HasIntvl | sockops.HasCnt | sockops.HasUserTimeout,
		Idle: 120, Intvl: 10, Cnt: 5, UserTimeout: 2500}
	if !ok || s != want {
		t.Errorf("got %+v %v, want %+v", s, ok, want)
	}
	back, err := sockops.UnmarshalSettings(s.Marshal())
	if err != nil || back != s {
		t.Errorf("marshal round trip: %+v %v", back, err)
	}
	env, ok = checkOptions(ptrs, map[string]bool{"count": true}, nil)
	if s = settingsOf(env, false); !ok || s != (sockops.Settings{Flags: sockops.HasCnt, Cnt: 5}) {
		t.Errorf("only --count: %+v", s)
	}
}
