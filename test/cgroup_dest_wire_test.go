package test

// keepalive cgroup with rules by destination on the wire: TestDestWire's
// two network paths, its file and its peer that vanishes, with static Go
// clients in an attached cgroup instead of programs under the library.

import (
	"fmt"
	"strings"
	"testing"
)

// One cgroup, attached with TestDestWire's file: the clients in it to the
// rule's networks (IPv4 and IPv6) get the rule's short keepalive and end
// with ETIMEDOUT in the rule's time; the client in it to the other network
// gets the default (the kernel's timers) and, like the control client to
// the rule's network from outside the cgroup, still waits. Status counts
// each ruled connection under its rule and the other under the default.
func TestCgroupDestWire(t *testing.T) {
	buildProbes(t)
	t.Parallel()
	c := newCgEnv(t)
	c.attach(t, "--config", writeConf(t, destWireConf))
	l := newDestLink(t)
	probe := func(inCgroup bool) func(addr, port string) *proc {
		return func(addr, port string) *proc { return c.wireProbe(t, l, inCgroup, "wire", addr, port) }
	}
	ruled := fmt.Sprintf("ka=1 idle=%d intvl=%d cnt=%d ", wireIdle, wireIntvl, wireCnt)
	clients := []struct {
		wireClient
		opts string // what its connection has, as the probe prints it
	}{
		{wireClient{"rule-ipv4", serverAddr, true, probe(true)}, ruled},
		{wireClient{"rule-ipv6", destSix, true, probe(true)}, ruled},
		{wireClient{"other-network", destOther, false, probe(true)}, "ka=1 idle=7200 intvl=75 cnt=9 "}, // a new namespace's sysctls
		{wireClient{"control", serverAddr, false, probe(false)}, "ka=0 "},
	}
	var wcs []wireClient
	for _, cl := range clients {
		wcs = append(wcs, cl.wireClient)
	}
	conns := l.peerVanishes(t, 7200, wcs)
	for i, cl := range clients {
		if !strings.HasPrefix(conns[i], "connected "+cl.opts) {
			t.Errorf("%s: %q, want %q...", cl.name, conns[i], "connected "+cl.opts)
		}
	}

	// Each connection in the cgroup counted once, by the rule that took
	// it; the control is not the cgroup's.
	j := c.statusJSON(t)
	want := []struct {
		line int
		rule string
	}{{1, "to 192.0.2.0/24"}, {2, "to fd00:db8:1::/64"}}
	if len(j.Rules) != len(want) {
		t.Fatalf("status --json: rules %+v, want %d", j.Rules, len(want))
	}
	for i, w := range want {
		r := j.Rules[i]
		if r.Line != w.line || !strings.HasPrefix(r.Rule, w.rule+" ") {
			t.Errorf("status --json: rule %d is line %d %q, want line %d %s ...", i, r.Line, r.Rule, w.line, w.rule)
		}
		if r.Counters["configured"] != 1 || r.Counters["left_alone"] != 0 || r.Counters["refused"] != 0 {
			t.Errorf("status --json: line %d's counters %v, want the ruled connection configured, nothing else", r.Line, r.Counters)
		}
	}
	if d := j.Default; d["configured"] != 1 || d["left_alone"] != 0 || d["refused"] != 0 {
		t.Errorf("status --json: the default's counters %v, want the other network's connection configured, nothing else", d)
	}
	if j.Configured == nil || *j.Configured != 3 {
		t.Errorf("status --json: configured %v, want 3 in all", j.Configured)
	}
	if j.TimedOut == nil {
		t.Logf("NOT COUNTED on Linux %s: timed_out is null (the kernel cannot run the counting program)", kernelRelease(t))
	} else if *j.TimedOut != 2 {
		t.Errorf("status --json: timed_out %d, want 2 (the ruled connections)", *j.TimedOut)
	}
}
