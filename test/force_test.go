package test

import (
	"strings"
	"testing"
)

// KEEPALIVE=force keeps the operator's values over the program's own
// setsockopt calls, on sockets the library configured; without force the
// program's own calls win, as without the library.
func TestForce(t *testing.T) {
	env := []string{"KEEPIDLE=60", "KEEPINTVL=10", "KEEPCNT=4"}
	control := run{env: append(env, "KEEPALIVE=force"), args: []string{"ownopts"}}.exec(t)
	passed(t, "control", control)
	own := map[string]string{"ka": "1", "idle": "15", "intvl": "5", "cnt": "3"}
	for _, which := range []string{"client", "accepted"} {
		wantFields(t, "control "+which, line(control.stdout, which), own)
	}
	if s := line(control.stdout, "off"); s["ka"] != "0" || s["r"] != "0" {
		t.Fatalf("control: the program's SO_KEEPALIVE=0 did not apply: %v", s)
	}

	plain := run{preload: true, env: env, args: []string{"ownopts"}}.exec(t)
	passed(t, "without force", plain)
	for _, which := range []string{"client", "accepted"} {
		wantFields(t, "without force "+which, line(plain.stdout, which), own)
	}
	if s := line(plain.stdout, "off"); s["ka"] != "0" {
		t.Errorf("without force the program turns keepalive off: %v", s)
	}

	forced := run{preload: true, env: append(env, "KEEPALIVE=force", "KEEPALIVE_DEBUG=1"), args: []string{"ownopts"}}.exec(t)
	passed(t, "with force", forced)
	ops := map[string]string{"ka": "1", "idle": "60", "intvl": "10", "cnt": "4"}
	for _, which := range []string{"client", "accepted"} {
		wantFields(t, "force "+which, line(forced.stdout, which), ops)
	}
	if s := line(forced.stdout, "off"); s["ka"] != "1" || s["r"] != "0" || s["errno"] != "4242" {
		t.Errorf("force: SO_KEEPALIVE=0 must succeed for the program, errno untouched, and keepalive stay on: %v", s)
	}
	if !strings.Contains(forced.stdout, "\nnodelay=1\n") {
		t.Errorf("force: an option it does not keep (TCP_NODELAY) must still apply:\n%s", forced.stdout)
	}
	if n := strings.Count(forced.stderr, "not made: KEEPALIVE=force keeps"); n != 9 {
		t.Errorf("force: %d debug lines for kept options, want 9 (SO_KEEPALIVE=1 and 3 timers on 2 sockets, and SO_KEEPALIVE=0):\n%s", n, forced.stderr)
	}
}

func wantFields(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s=%s, want %s (all: %v)", what, k, got[k], v, got)
		}
	}
}
