package test

// keepalive metrics: the text exposition format, checked by promtool, read
// through a real node_exporter's textfile collector and a real Prometheus
// server scraping it on loopback, and held against ss and the cgroup's
// counters, with a process that has keepalive as the control.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v\n%s", err, text)
	}
	return mfs
}

// sample is the value of a family's series with these labels, or -1.
func sample(mfs map[string]*dto.MetricFamily, name string, kv ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == kv[i] && l.GetValue() == kv[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	return -1
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls f until it returns true, for at most d.
func waitFor(d time.Duration, f func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if f() {
			return true
		}
	}
	return f()
}

func httpGet(u string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMetrics(t *testing.T) {
	py := python(t)
	need(t, "ss")
	plain := holder(t, nil, py, "-c", holderPy, "plain", "2", "ka-plain")
	keep := holder(t, nil, py, "-c", holderPy, "keepalive", "2", "ka-keep")
	holder(t, nil, py, "-c", holderPy, "plain", "1", "ka-\xffbad") // not UTF-8: the scrapers must still take the file
	ss := ssEstablishedByPID(t, plain, keep)
	if ss[plain] != 4 || ss[keep] != 4 {
		t.Fatalf("control: ss shows %v established connections, want 4 each", ss)
	}
	r := run{args: []string{command, "metrics"}, timeout: 60 * time.Second}.exec(t)
	if r.status != 0 {
		t.Fatalf("metrics: %s", r)
	}
	mfs := parseMetrics(t, r.stdout)
	for _, tc := range []struct {
		name, command string
		want          int
	}{
		{"keepalive_at_risk_connections", "ka-plain", ss[plain]},
		{"keepalive_established_connections", "ka-plain", ss[plain]},
		{"keepalive_keepalive_connections", "ka-plain", 0},
		{"keepalive_at_risk_connections", "ka-keep", 0},
		{"keepalive_keepalive_connections", "ka-keep", ss[keep]},
		{"keepalive_processes", "ka-keep", 1},
		{"keepalive_at_risk_connections", "ka-\uFFFDbad", 2},
	} {
		if got := sample(mfs, tc.name, "command", tc.command); got != float64(tc.want) {
			t.Errorf("%s{command=%q} = %v, want %d", tc.name, tc.command, got, tc.want)
		}
	}
	for _, name := range []string{"keepalive_at_risk_connections", "keepalive_established_connections"} {
		for _, m := range mfs[name].Metric {
			for _, l := range m.Label {
				if l.GetName() != "command" {
					t.Errorf("%s has a label %q: only command is meant (cardinality)", name, l.GetName())
				}
			}
		}
	}

	t.Run("promtool", func(t *testing.T) {
		need(t, "promtool")
		check := func(text string) result {
			f := filepath.Join(t.TempDir(), "m.prom")
			os.WriteFile(f, []byte(text), 0o644)
			return run{args: []string{"sh", "-c", `promtool check metrics < "$1"`, "sh", f}, timeout: 30 * time.Second}.exec(t)
		}
		if r := check(r.stdout); r.status != 0 || strings.TrimSpace(r.stdout+r.stderr) != "" {
			t.Errorf("promtool check metrics: %s", r)
		}
		// The control: promtool does complain, about a counter without
		// _total and a metric without HELP.
		if r := check("# TYPE ka_bad counter\nka_bad 1\nka_nohelp 2\n"); r.status == 0 && strings.TrimSpace(r.stdout+r.stderr) == "" {
			t.Errorf("control: promtool found nothing wrong in bad metrics: %s", r)
		}
	})

	t.Run("cgroup", func(t *testing.T) {
		buildProbes(t)
		c := newCgEnv(t)
		addr := listener(t, "tcp4", "127.0.0.1:0")
		c.attach(t, attachedSettings...)
		for i := 0; i < 3; i++ {
			c.probe(t, true, probeGoBin, "dial", addr)
		}
		c.probe(t, false, probeGoBin, "dial", addr) // the control, outside
		r := run{args: []string{command, "metrics", "--bpffs", c.bpffs}, timeout: 60 * time.Second}.exec(t)
		mfs := parseMetrics(t, r.stdout)
		st := c.status(t)
		if got := sample(mfs, "keepalive_cgroup_configured_total", "cgroup", c.dir); got != 3 || st["CONFIGURED"] != "3" {
			t.Errorf("keepalive_cgroup_configured_total{cgroup=%q} = %v, status CONFIGURED %s, want 3", c.dir, got, st["CONFIGURED"])
		}
		if got, j := sample(mfs, "keepalive_cgroup_timed_out_total", "cgroup", c.dir), c.statusJSON(t); j.TimedOut != nil && got != 0 || j.TimedOut == nil && got != -1 {
			t.Errorf("keepalive_cgroup_timed_out_total: %v, want 0 where counted (status --json: %v), absent where not", got, j.TimedOut)
		}
		if got := sample(mfs, "keepalive_cgroup_info", "cgroup", c.dir, "state", "attached"); got != 1 {
			t.Errorf("keepalive_cgroup_info: %v", got)
		}
		if got := sample(mfs, "keepalive_cgroup_idle_seconds", "cgroup", c.dir); got != 11 {
			t.Errorf("keepalive_cgroup_idle_seconds: %v, want 11", got)
		}
		if got := sample(mfs, "keepalive_cgroup_user_timeout_seconds", "cgroup", c.dir); got != 5 {
			t.Errorf("keepalive_cgroup_user_timeout_seconds: %v, want 5 (seconds, the base unit)", got)
		}
	})

	// node_exporter's textfile collector serves the file, and Prometheus,
	// scraping it, answers a query with the number ss showed.
	t.Run("node_exporter-and-prometheus", func(t *testing.T) {
		need(t, "prometheus-node-exporter")
		need(t, "prometheus")
		dir := t.TempDir()
		if r := (run{args: []string{command, "metrics", "--textfile", dir}, timeout: 60 * time.Second}).exec(t); r.status != 0 || r.stdout != "" {
			t.Fatalf("metrics --textfile: %s", r)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != "keepalive.prom" {
			t.Fatalf("metrics --textfile left %v, want keepalive.prom alone (no temporary file)", ents)
		}
		exporter := freePort(t)
		ne := startProc(t, exec.CommandContext(t.Context(), "prometheus-node-exporter", "--web.listen-address="+exporter,
			"--collector.disable-defaults", "--collector.textfile", "--collector.textfile.directory="+dir))
		wantLine := fmt.Sprintf(`keepalive_at_risk_connections{command="ka-plain"} %d`, ss[plain])
		var page string
		if !waitFor(30*time.Second, func() bool {
			page, _ = httpGet("http://" + exporter + "/metrics")
			return strings.Contains(page, wantLine)
		}) {
			t.Fatalf("node_exporter does not serve %q:\n%s", wantLine, page)
		}
		if strings.Contains(page, "\nnode_textfile_scrape_error 1\n") || !strings.Contains(page, "\nnode_textfile_scrape_error 0\n") {
			t.Errorf("node_exporter reports a textfile scrape error:\n%s\n%s", page, ne.errb)
		}
		server := freePort(t)
		conf := filepath.Join(dir, "..", "prometheus.yml")
		os.WriteFile(conf, []byte("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['"+exporter+"']\n"), 0o644)
		startProc(t, exec.CommandContext(t.Context(), "prometheus", "--config.file="+conf, "--storage.tsdb.path="+t.TempDir(),
			"--web.listen-address="+server))
		query := "http://" + server + "/api/v1/query?query=" + url.QueryEscape(`keepalive_at_risk_connections{command="ka-plain"}`)
		var answer string
		got := ""
		ok := waitFor(60*time.Second, func() bool {
			answer, _ = httpGet(query)
			var res struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			if json.Unmarshal([]byte(answer), &res) != nil || len(res.Data.Result) != 1 {
				return false
			}
			got, _ = res.Data.Result[0].Value[1].(string)
			return got != ""
		})
		if !ok || got != strconv.Itoa(ss[plain]) {
			t.Errorf("Prometheus answers %q for keepalive_at_risk_connections{command=\"ka-plain\"}, want %d (ss):\n%s", got, ss[plain], answer)
		}
	})
}

// keepalive metrics with rules by destination: the connections at risk by
// rule and those a KEEPALIVE=off rule leaves alone, the counts ss's,
// checked by promtool; a file without rules adds no family (the control).
func TestMetricsByRule(t *testing.T) {
	c := newByRuleCase(t)
	r := run{args: []string{command, "metrics", "--config", c.conf}, timeout: 60 * time.Second}.exec(t)
	if r.status != 0 {
		t.Fatalf("metrics --config: %s", r)
	}
	mfs := parseMetrics(t, r.stdout)
	if got := sample(mfs, "keepalive_at_risk_connections_by_rule", "line", "2", "rule", c.rule); got != float64(c.ruleN) {
		t.Errorf("keepalive_at_risk_connections_by_rule{line=\"2\",rule=%q} = %v, want %d (ss)", c.rule, got, c.ruleN)
	}
	if got := sample(mfs, "keepalive_left_alone_connections_by_rule", "line", "3", "rule", c.off); got != float64(c.offN) {
		t.Errorf("keepalive_left_alone_connections_by_rule{line=\"3\",rule=%q} = %v, want %d (ss)", c.off, got, c.offN)
	}
	if got := sample(mfs, "keepalive_at_risk_connections_by_rule", "rule", "default"); got < float64(c.ownDf) {
		t.Errorf("keepalive_at_risk_connections_by_rule{rule=\"default\"} = %v, want at least the holder's %d", got, c.ownDf)
	}
	// Every connection at risk is counted once: by rule, left alone, or
	// under the default.
	total := func(name string) (n float64) {
		for _, m := range mfs[name].GetMetric() {
			n += m.GetGauge().GetValue()
		}
		return n
	}
	if byRule, all := total("keepalive_at_risk_connections_by_rule")+total("keepalive_left_alone_connections_by_rule"), total("keepalive_at_risk_connections"); byRule != all {
		t.Errorf("by rule %v connections, keepalive_at_risk_connections %v", byRule, all)
	}
	if sample(mfs, "keepalive_left_alone_connections_by_rule", "line", "2") != -1 || sample(mfs, "keepalive_at_risk_connections_by_rule", "line", "3") != -1 {
		t.Errorf("a rule is in both families:\n%s", r.stdout)
	}
	t.Run("promtool", func(t *testing.T) {
		need(t, "promtool")
		f := filepath.Join(t.TempDir(), "m.prom")
		os.WriteFile(f, []byte(r.stdout), 0o644)
		if p := (run{args: []string{"sh", "-c", `promtool check metrics < "$1"`, "sh", f}, timeout: 30 * time.Second}).exec(t); p.status != 0 || strings.TrimSpace(p.stdout+p.stderr) != "" {
			t.Errorf("promtool check metrics: %s", p)
		}
	})

	// The control: a file without rules.
	plain := filepath.Join(t.TempDir(), "keepalive.conf")
	os.WriteFile(plain, []byte("KEEPIDLE=300\n"), 0o644)
	r = run{args: []string{command, "metrics", "--config", plain}, timeout: 60 * time.Second}.exec(t)
	mfs = parseMetrics(t, r.stdout)
	if r.status != 0 || mfs["keepalive_at_risk_connections_by_rule"] != nil || mfs["keepalive_left_alone_connections_by_rule"] != nil || mfs["keepalive_at_risk_connections"] == nil {
		t.Errorf("control: metrics without rules: %s", r)
	}
}
