package test

// keepalive cgroup with rules by destination: the sock_ops program looks
// each connection's far end up in its trie and takes the first rule for it
// and the service port, as the library does (dest_test.go runs the same
// cases under the library).

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/libkeepalive/libkeepalive/shim"
)

// The library's loopback cases, in the cgroup: one process holds each
// case's listener and client, so both ends are in the cgroup; the same
// process outside it is the control. Then status counts each rule's
// connections as the library's reader says they fall.
func TestCgroupDest(t *testing.T) {
	c := newCgEnv(t)
	conf := writeConf(t, destLoopbackConf)
	args := destProbeArgs(t)
	probe := func(inCgroup bool) string {
		out, err := c.output(inCgroup, 30*time.Second, args...)
		if err != nil {
			t.Fatalf("dest_probe.py (in the cgroup %v): %v\n%s", inCgroup, err, out)
		}
		return out
	}
	control := probe(false)
	c.attach(t, "--config", conf)
	checkDestLoopback(t, control, probe(true))

	// What the library's reader says of each end, counted by rule.
	file := shim.ReadFile(conf, true)
	if len(file.Problems) > 0 || len(file.Dests) != 5 {
		t.Fatalf("the library's reader: %d rules, problems %v", len(file.Dests), file.Problems)
	}
	want := map[string]int{} // line or "-" -> connections
	for _, tc := range destLoopbackCases {
		f := strings.Split(tc.arg, ",")
		dst, src := netip.MustParseAddr(f[0]), netip.MustParseAddr(f[2])
		port, _ := strconv.Atoi(f[1])
		for _, end := range []netip.Addr{dst, src} { // the client's far end, the accepted one's
			key := "-"
			if i := file.Match(end, uint16(port)); i >= 0 {
				key = strconv.Itoa(file.Dests[i].Line)
			}
			want[key]++
		}
	}
	a := c.statusJSON(t)
	got := map[string]int{"-": int(a.Default["configured"] + a.Default["left_alone"])}
	for i, rule := range a.Rules {
		if rule.Rule != file.Dests[i].String() || rule.Line != file.Dests[i].Line {
			t.Errorf("rule %d in status: line %d %q, want line %d %q", i, rule.Line, rule.Rule, file.Dests[i].Line, file.Dests[i])
		}
		if n := int(rule.Counters["configured"] + rule.Counters["left_alone"]); n > 0 {
			got[strconv.Itoa(rule.Line)] = n
		}
	}
	if len(got) != len(want) {
		t.Errorf("connections by rule: status %v, the library's reader %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("connections by rule: status %v, the library's reader %v", got, want)
			break
		}
	}
	// keepalive metrics carries the same counters, by rule.
	m := run{args: []string{command, "metrics", "--bpffs", c.bpffs}, timeout: 60 * time.Second}.exec(t)
	for _, rule := range a.Rules {
		want := fmt.Sprintf(`keepalive_cgroup_rule_configured_total{cgroup=%q,line="%d",rule=%q} %d`, c.dir, rule.Line, rule.Rule, rule.Counters["configured"])
		if m.status != 0 || !strings.Contains(m.stdout, want) {
			t.Errorf("metrics: want %s:\n%s", want, m)
		}
	}
	if want := fmt.Sprintf(`keepalive_cgroup_rule_configured_total{cgroup=%q,rule="default"} %d`, c.dir, a.Default["configured"]); !strings.Contains(m.stdout, want) {
		t.Errorf("metrics: want %s:\n%s", want, m)
	}
	text := c.ka(t, "status", c.dir)
	if !strings.Contains(text.stdout, "rules by destination of "+c.dir+", first match:") ||
		!strings.Contains(text.stdout, "to 127.0.0.0/8 port 47303 KEEPALIVE=off") {
		t.Errorf("status: want the rules listed:\n%s", text)
	}

	// The same file without rules, the control: the program stops
	// looking rules up, and the connection to a ruled address gets the
	// default.
	plain := writeConf(t, "KEEPIDLE=600\nKEEPCNT=4\n")
	c.attach(t, "--config", plain)
	for _, l := range strings.Split(probe(true), "\n") {
		if g := destProbeLine.FindStringSubmatch(l); g != nil && (g[2] != destDefault || g[3] != destDefault) {
			t.Errorf("without rules: %s, want %s on both ends", l, destDefault)
		}
	}
}

// The setsockopt program of --force runs before a connection has its far
// end: with rules, the cgroup mode refuses it, in words, and attaches
// nothing; without rules (the control) it attaches.
func TestCgroupDestForce(t *testing.T) {
	c := newCgEnv(t)
	conf := writeConf(t, "KEEPALIVE=force\nKEEPIDLE=60\nto 10.0.0.0/8 KEEPIDLE=30\n")
	r := c.ka(t, "attach", "--config", conf, c.dir)
	if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, "--force (or KEEPALIVE=force) and rules by destination cannot be combined") ||
		!strings.HasSuffix(r.stderr, "keepalive: nothing was attached\n") {
		t.Errorf("force with rules: want status 2 and the reason:\n%s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("force with rules: %d sock_ops programs attached, want none", n)
	}
	c.attach(t, "--config", writeConf(t, "KEEPALIVE=force\nKEEPIDLE=60\n"))
}
