package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/hostscan"
	"github.com/libkeepalive/libkeepalive/shim"
)

func testByRule(t *testing.T, text string, rules []int, def int) *hostscan.ByRule {
	t.Helper()
	b := hostscan.NewByRule(shim.ParseFile("/etc/keepalive.conf", []byte(text)))
	copy(b.Rules, rules)
	b.Default = def
	return b
}

// The section, the JSON and the metrics say the same counts, with the
// KEEPALIVE=off rule's apart; a file without rules adds nothing.
func TestByRuleOutputs(t *testing.T) {
	b := testByRule(t, "KEEPIDLE=300\nto 10.0.0.0/8 port 5432 KEEPIDLE=60\n\nto 192.168.0.0/16 KEEPALIVE=off\nbogus\n", []int{3, 2}, 7)
	var out bytes.Buffer
	printByRule(&out, b)
	for _, want := range []string{
		"At risk by rule (/etc/keepalive.conf; ",
		"\n  AT-RISK  LINE  RULE\n",
		"\n  3        2     to 10.0.0.0/8 port 5432 KEEPIDLE=60\n",
		"\n  -        4     to 192.168.0.0/16 KEEPALIVE=off (left alone by rule: 2 connection(s) without keepalive by choice)\n",
		"\n  7        -     the default (no rule matches)\n",
		"(1 problem(s) in /etc/keepalive.conf, which keepalive check --config /etc/keepalive.conf lists: ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the section lacks %q:\n%s", want, out.String())
		}
	}

	j, _ := json.Marshal(byRuleReportOf(b))
	const want = `{"config":"/etc/keepalive.conf","rules":[` +
		`{"line":2,"rule":"to 10.0.0.0/8 port 5432 KEEPIDLE=60","leaves_alone":false,"at_risk":3,"left_alone":0},` +
		`{"line":4,"rule":"to 192.168.0.0/16 KEEPALIVE=off","leaves_alone":true,"at_risk":0,"left_alone":2}],` +
		`"default_at_risk":7,"problems":["libkeepalive: /etc/keepalive.conf:5 is not a setting: `
	if !strings.HasPrefix(string(j), want) {
		t.Errorf("JSON:\n%s\nwant it to start with\n%s", j, want)
	}

	mfs := byRuleFamilies(b)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var l []string
			for _, p := range m.Label {
				l = append(l, p.GetName()+"="+p.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(l, ",")+"}"] = m.Gauge.GetValue()
		}
	}
	wantMetrics := map[string]float64{
		"keepalive_at_risk_connections_by_rule{line=2,rule=to 10.0.0.0/8 port 5432 KEEPIDLE=60}": 3,
		"keepalive_at_risk_connections_by_rule{rule=default}":                                    7,
		"keepalive_left_alone_connections_by_rule{line=4,rule=to 192.168.0.0/16 KEEPALIVE=off}":  2,
	}
	if len(got) != len(wantMetrics) {
		t.Errorf("metrics %v, want %v", got, wantMetrics)
	}
	for k, v := range wantMetrics {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}

	// Without rules: nothing new anywhere.
	none := testByRule(t, "KEEPIDLE=300\n", nil, 9)
	out.Reset()
	printByRule(&out, none)
	printByRule(&out, nil)
	if out.Len() != 0 || byRuleReportOf(none) != nil || byRuleFamilies(none) != nil || byRuleFamilies(nil) != nil {
		t.Errorf("a file without rules: section %q, JSON %v, metrics %v", out.String(), byRuleReportOf(none), byRuleFamilies(none))
	}
}

// --config: a file named that cannot be read is an error; the default file
// may be absent.
func TestRulesFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalive.conf")
	os.WriteFile(conf, []byte("to any port 22 KEEPIDLE=60\n"), 0o644)
	if f, note, err := rulesFile(conf); err != nil || note != "" || len(f.Dests) != 1 || f.Path != conf {
		t.Errorf("rulesFile(%s): %d rules, note %q, %v", conf, len(f.Dests), note, err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "absent"), filepath.Join(dir, "absent") + " does not exist"},
		{dir, dir + " is a directory, not a regular file"},
	} {
		if _, _, err := rulesFile(tc.path); err == nil || err.Error() != tc.want {
			t.Errorf("rulesFile(%s): %v, want %q", tc.path, err, tc.want)
		}
	}
}

// status's --config: a value it needs, and the host scan only.
func TestStatusConfigUsage(t *testing.T) {
	for _, args := range [][]string{{"--config"}, {"--config", "/dev/null", "1"}, {"--config=/dev/null", "1"}} {
		var stdout, stderr bytes.Buffer
		if st := status(args, &stdout, &stderr); st != 2 || !strings.Contains(stderr.String(), "usage: keepalive status") {
			t.Errorf("status %q: exit %d, stderr %q", args, st, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if st := status([]string{"--config", filepath.Join(t.TempDir(), "absent")}, &stdout, &stderr); st != 1 ||
		!strings.Contains(stderr.String(), "keepalive status: --config ") || !strings.Contains(stderr.String(), "absent does not exist") {
		t.Errorf("status --config absent: exit %d, stderr %q", st, stderr.String())
	}
}
