package test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

// The kinds in c/sockets.c that must be configured; every other kind must
// come out exactly as without the library.
var tcpKinds = []string{"inet_stream", "inet6_stream", "inet_stream_tcp", "inet6_stream_tcp",
	"inet_stream_nonblock", "inet_stream_cloexec", "inet6_stream_nonblock_cloexec", "inet_mptcp", "inet6_mptcp"}

var otherKinds = []string{"inet_dgram", "inet6_dgram", "inet_raw", "inet_sctp_stream", "inet_sctp_seqpacket",
	"unix_stream", "unix_seqpacket", "unix_dgram", "netlink"}

func TestSocketFilter(t *testing.T) {
	control, shimmed := pair(t, tuned, "sockets")
	passed(t, "control", control)
	passed(t, "with the library", shimmed)
	for _, kind := range tcpKinds {
		t.Run(kind, func(t *testing.T) {
			c, s := line(control.stdout, kind), line(shimmed.stdout, kind)
			if _, ok := c["unavailable"]; ok {
				// Skip only for a reason read from the kernel, not socket()'s errno.
				why := ""
				if strings.Contains(kind, "mptcp") {
					if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil {
						why = "this kernel has no MPTCP (no /proc/sys/net/mptcp/enabled)"
					} else if strings.TrimSpace(string(b)) == "0" {
						why = "MPTCP is off here (net.mptcp.enabled=0)"
					}
				} else if _, err := os.Stat("/proc/net/if_inet6"); strings.Contains(kind, "inet6") && err != nil {
					why = "this kernel has no IPv6 (no /proc/net/if_inet6)"
				}
				if why == "" {
					t.Fatalf("%s: socket() failed without the library (errno %s) though the kernel has what it needs", kind, c["errno"])
				}
				t.Skipf("SKIPPED LOUDLY: %s sockets: %s (errno %s); the filter is untested for them", kind, why, c["errno"])
			}
			wantUntouched(t, kind, c)
			ut := "3000"
			if strings.Contains(kind, "mptcp") {
				ut = c["ut"] // MPTCP refuses TCP_USER_TIMEOUT: skipped, quietly
			}
			wantTuned(t, kind, s, ut)
			if s["errno"] != "4242" || c["errno"] != "4242" {
				t.Errorf("errno after a successful socket(): %s with the library, %s without; want 4242 (unchanged)", s["errno"], c["errno"])
			}
		})
	}
	for _, kind := range otherKinds {
		t.Run(kind, func(t *testing.T) {
			c, s := rawLine(control.stdout, kind), rawLine(shimmed.stdout, kind)
			if c == "" || c != s {
				t.Errorf("untouched kind changed:\nwithout: %q\n   with: %q", c, s)
			}
		})
	}
	for _, failure := range []string{"bad_domain", "bad_type", "bad_protocol", "emfile"} {
		t.Run(failure, func(t *testing.T) {
			c, s := rawLine(control.stdout, failure), rawLine(shimmed.stdout, failure)
			if c == "" || c != s {
				t.Errorf("socket() failure differs:\nwithout: %q\n   with: %q", c, s)
			}
		})
	}
}

// Without any variable, keepalive is on with the kernel's timers.
func TestDefaults(t *testing.T) {
	control, shimmed := pair(t, nil, "sockets")
	c, s := line(control.stdout, "inet6_stream"), line(shimmed.stdout, "inet6_stream")
	wantUntouched(t, "inet6_stream", c)
	if s["ka"] != "1" || s["idle"] != c["idle"] || s["intvl"] != c["intvl"] || s["cnt"] != c["cnt"] || s["ut"] != c["ut"] {
		t.Errorf("with no variables: %v, want keepalive on and the kernel's values %v", s, c)
	}
}

// KEEPALIVE=off in every spelling leaves every socket as the program made it,
// whatever else is set.
func TestKeepaliveOff(t *testing.T) {
	control := run{env: tuned, args: []string{"sockets"}}.exec(t)
	for _, word := range []string{"off", "OFF", "0", "no", "False"} {
		s := run{preload: true, env: append([]string{"KEEPALIVE=" + word}, tuned...), args: []string{"sockets"}}.exec(t)
		if s.stdout != control.stdout || s.stderr != "" {
			t.Errorf("KEEPALIVE=%s changed something:\nwithout:\n%s\nwith:\n%s", word, control, s)
		}
	}
	for _, word := range []string{"on", "1", "YES", "true"} {
		s := run{preload: true, env: append([]string{"KEEPALIVE=" + word}, tuned...), args: []string{"sockets"}}.exec(t)
		wantTuned(t, "KEEPALIVE="+word, line(s.stdout, "inet_stream"), "3000")
	}
}

// Durations are accepted where the contract says so.
func TestDurations(t *testing.T) {
	env := []string{"KEEPIDLE=2m", "KEEPINTVL=1m30s", "KEEPCNT=4", "KEEPUSERTIMEOUT=2500ms"}
	control, shimmed := pair(t, env, "sockets")
	wantUntouched(t, "inet_stream", line(control.stdout, "inet_stream"))
	s := line(shimmed.stdout, "inet_stream")
	if s["idle"] != "120" || s["intvl"] != "90" || s["cnt"] != "4" || s["ut"] != "2500" {
		t.Errorf("%v: got %v", env, s)
	}
}

func TestAccept(t *testing.T) {
	for _, mode := range []string{"raw", "raw4", "raw-addr", "shim", "app"} {
		t.Run(mode, func(t *testing.T) {
			control, shimmed := pair(t, tuned, "accept", mode)
			passed(t, "control", control)
			passed(t, "with the library", shimmed)
			c, s := line(control.stdout, "accepted"), line(shimmed.stdout, "accepted")
			if mode == "app" {
				// The program tuned its listener itself: its choice is kept.
				if c["idle"] != "77" || s["idle"] != "77" || s["ka"] != "1" {
					t.Errorf("program's own TCP_KEEPIDLE=77 on its listener: accepted %v without, %v with the library", c, s)
				}
			} else {
				wantUntouched(t, "accepted", c)
				wantTuned(t, "accepted", s, "3000")
			}
			if s["errno"] != "4242" {
				t.Errorf("errno after a successful accept: %s, want 4242 (unchanged)", s["errno"])
			}
			if a, b := rawLine(control.stdout, "accept_fail"), rawLine(shimmed.stdout, "accept_fail"); a != b {
				t.Errorf("failing accept differs:\nwithout: %s\n   with: %s", a, b)
			}
		})
	}
}

// Connections accepted from a UNIX listener stay untouched.
func TestAcceptUnix(t *testing.T) {
	control, shimmed := pair(t, tuned, "accept", "unix")
	passed(t, "control", control)
	passed(t, "with the library", shimmed)
	if control.stdout != shimmed.stdout || !strings.Contains(control.stdout, "accepted ka=0 errno=4242") {
		t.Errorf("UNIX accept:\nwithout:\n%s\nwith:\n%s", control.stdout, shimmed.stdout)
	}
}

// expectedMessages is what package shim says of env, one line per problem.
func expectedMessages(env []string) []string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	_, probs := shim.Load(m)
	var lines []string
	for _, p := range probs {
		lines = append(lines, p.Message())
	}
	return lines
}

func stderrLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Bad values: one line each on stderr, once, even from a process that exits
// at once; the good values apply and the program runs on.
func TestBadInput(t *testing.T) {
	env := []string{"KEEPIDLE=abc", "KEEPINTVL=5", "KEEPCNT=500", "KEEPUSERTIMEOUT=1.5us", "KEEPALIVE=sometimes"}
	want := expectedMessages(env)
	if len(want) != 4 {
		t.Fatalf("package shim found %d problems in %v, want 4", len(want), env)
	}
	control, shimmed := pair(t, env, "sockets")
	passed(t, "with the library", shimmed)
	if got := stderrLines(shimmed.stderr); !slices.Equal(got, want) {
		t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c, s := line(control.stdout, "inet_stream"), line(shimmed.stdout, "inet_stream")
	wantUntouched(t, "inet_stream", c)
	if s["ka"] != "1" || s["intvl"] != "5" || s["idle"] != c["idle"] || s["cnt"] != c["cnt"] || s["ut"] != c["ut"] {
		t.Errorf("valid KEEPINTVL=5 applies and the rest keep the kernel's values: got %v, kernel %v", s, c)
	}
	// A program that exits as soon as it starts still gets the lines, and
	// its exit status is its own.
	for i := 0; i < 20; i++ {
		r := run{preload: true, env: env, args: []string{"crash", "return7"}}.exec(t)
		if got := stderrLines(r.stderr); !slices.Equal(got, want) || r.status.ExitStatus() != 7 {
			t.Fatalf("run %d of a short-lived program: %s\nwant the %d lines and exit 7", i, r, len(want))
		}
	}
}

// KEEPALIVE_DEBUG=1: one line per configured socket, naming what the kernel
// refused.
func TestDebugLines(t *testing.T) {
	r := run{preload: true, env: append([]string{"KEEPALIVE_DEBUG=1"}, tuned...), args: []string{"sockets"}}.exec(t)
	passed(t, "with the library", r)
	configured := 0
	for _, kind := range tcpKinds {
		if l := line(r.stdout, kind); l != nil && l["ka"] == "1" {
			configured++
		}
	}
	configured += atoi(t, line(r.stdout, "emfile")["opened"])
	lines := stderrLines(r.stderr)
	if len(lines) != configured {
		t.Fatalf("%d debug lines for %d configured sockets:\n%s", len(lines), configured, r.stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "libkeepalive: socket fd ") || !strings.Contains(l, "SO_KEEPALIVE=1 TCP_KEEPIDLE=10 TCP_KEEPINTVL=5 TCP_KEEPCNT=3") {
			t.Errorf("debug line %q", l)
		}
		if strings.Contains(l, "mptcp:") != strings.Contains(l, "refused: TCP_USER_TIMEOUT") {
			t.Errorf("debug line %q: MPTCP and only MPTCP refuses TCP_USER_TIMEOUT", l)
		}
	}
}
