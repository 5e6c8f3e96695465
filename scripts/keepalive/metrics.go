package main

// keepalive metrics: the host's coverage and the cgroup mode's counters in
// Prometheus's text exposition format, for node_exporter's textfile
// collector (--textfile DIR) or any scraper. Labels are few by design: by
// command (never by PID, which would make a series per process start) and
// by cgroup.

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/hostscan"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/pins"
	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
)

const metricsUsage = `usage: keepalive metrics [--textfile DIR] [--bpffs DIR] [--timers] [--config FILE]

Prints the host's TCP keepalive coverage (as keepalive status) and the
cgroup mode's counters (as keepalive cgroup status) in Prometheus's text
format. --textfile DIR writes DIR/keepalive.prom instead, atomically (a
temporary file renamed over it), for node_exporter's
--collector.textfile.directory. Other users' processes need root.

When the configuration file (--config FILE, default /etc/keepalive.conf;
KEEPALIVE_CONFIG is not read) holds rules by destination, the connections
at risk are also counted by the rule they fall under
(keepalive_at_risk_connections_by_rule, docs/metrics.md).
`

func metrics(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive metrics", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	textfile := fs.String("textfile", "", "")
	bpffs := fs.String("bpffs", defaultBpffs, "")
	timers := fs.Bool("timers", false, "")
	config := fs.String("config", "", "")
	help := fs.Bool("help", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintf(stderr, "keepalive metrics: %v\n%s", err, metricsUsage)
		return 2
	}
	if *help {
		fmt.Fprint(stdout, metricsUsage)
		return 0
	}
	h, b, ok := scanByRule("keepalive metrics", *config, *timers, stderr)
	if !ok {
		return 1
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	families := append(hostFamilies(h), byRuleFamilies(b)...)
	for _, mf := range append(families, cgroupFamilies(*bpffs)...) {
		if err := enc.Encode(mf); err != nil {
			fmt.Fprintf(stderr, "keepalive metrics: %v\n", err)
			return 1
		}
	}
	if *textfile == "" {
		stdout.Write(buf.Bytes())
		return 0
	}
	if err := writeAtomically(filepath.Join(*textfile, "keepalive.prom"), buf.Bytes()); err != nil {
		fmt.Fprintf(stderr, "keepalive metrics: %v\n", err)
		return 1
	}
	return 0
}

// writeAtomically writes a file that a reader sees whole or not at all:
// node_exporter reads the directory at any moment.
func writeAtomically(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func family(name, help string, typ dto.MetricType) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: typ.Enum()}
}

// labels are name, value pairs. A label value must be UTF-8, and a process
// names itself with any bytes: those that are not become U+FFFD, or the
// whole file would be refused by the scraper.
func labels(kv ...string) []*dto.LabelPair {
	var l []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		l = append(l, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(strings.ToValidUTF8(kv[i+1], "\uFFFD"))})
	}
	return l
}

func gauge(mf *dto.MetricFamily, v float64, kv ...string) {
	mf.Metric = append(mf.Metric, &dto.Metric{Label: labels(kv...), Gauge: &dto.Gauge{Value: proto.Float64(v)}})
}

func counter(mf *dto.MetricFamily, v float64, kv ...string) {
	mf.Metric = append(mf.Metric, &dto.Metric{Label: labels(kv...), Counter: &dto.Counter{Value: proto.Float64(v)}})
}

// hostFamilies are keepalive status's numbers, summed by command.
func hostFamilies(h *hostscan.Host) []*dto.MetricFamily {
	type sums struct{ processes, established, keepalive, atRisk, unknown int }
	by := map[string]*sums{}
	for _, p := range h.Listed {
		s := by[p.Command]
		if s == nil {
			s = &sums{}
			by[p.Command] = s
		}
		s.processes++
		s.established += p.TCP
		s.keepalive += p.Keepalive
		s.atRisk += max(p.AtRisk(), 0)
		s.unknown += p.Unknown
	}
	commands := make([]string, 0, len(by))
	for c := range by {
		commands = append(commands, c)
	}
	sort.Strings(commands)
	procs := family("keepalive_processes", "Processes holding established TCP connections, by command.", dto.MetricType_GAUGE)
	est := family("keepalive_established_connections", "Established TCP connections, by command.", dto.MetricType_GAUGE)
	on := family("keepalive_keepalive_connections", "Established TCP connections with SO_KEEPALIVE on, by command.", dto.MetricType_GAUGE)
	risk := family("keepalive_at_risk_connections", "Established TCP connections without keepalive, which would wait forever for a vanished peer, by command.", dto.MetricType_GAUGE)
	unknown := family("keepalive_unknown_connections", "Established TCP connections whose keepalive a retransmission timer hides (read from the timers), by command.", dto.MetricType_GAUGE)
	for _, c := range commands {
		s := by[c]
		gauge(procs, float64(s.processes), "command", c)
		gauge(est, float64(s.established), "command", c)
		gauge(on, float64(s.keepalive), "command", c)
		gauge(risk, float64(s.atRisk), "command", c)
		gauge(unknown, float64(s.unknown), "command", c)
	}
	skipped := family("keepalive_skipped_processes", "Processes that could not be inspected (another user's, another network namespace without root).", dto.MetricType_GAUGE)
	n := 0
	for _, c := range h.Skipped {
		n += c
	}
	gauge(skipped, float64(n))
	out := []*dto.MetricFamily{est, on, risk, unknown, procs, skipped}
	for _, mf := range out[:5] {
		if len(mf.Metric) == 0 {
			// A family with no series says nothing; a zero is the truth.
			gauge(mf, 0)
		}
	}
	return out
}

// cgroupFamilies are keepalive cgroup status's counters, by cgroup; a
// counter the kernel could not give is left out, not shown as 0.
func cgroupFamilies(bpffs string) []*dto.MetricFamily {
	entries, _ := pins.List(bpffs, true)
	info := family("keepalive_cgroup_info", "A cgroup keepalive cgroup attached to, with its state (attached, gone, remade, unattached).", dto.MetricType_GAUGE)
	settings := make([]*dto.MetricFamily, len(sockops.SettingFields))
	for i, f := range sockops.SettingFields {
		settings[i] = family(f.Metric, f.Help, dto.MetricType_GAUGE)
	}
	counters := make([]*dto.MetricFamily, sockops.NumCounters)
	for i, f := range sockops.CounterFields {
		counters[i] = family(f.Metric, f.Help, dto.MetricType_COUNTER)
	}
	// Each rule by destination's counters, and the default's, by cgroup:
	// keepalive_cgroup_rule_configured_total and its kin.
	ruleCounters := make([]*dto.MetricFamily, len(sockops.RuleCounters))
	for i, c := range sockops.RuleCounters {
		f := sockops.CounterFields[c]
		ruleCounters[i] = family(strings.Replace(f.Metric, "keepalive_cgroup_", "keepalive_cgroup_rule_", 1),
			"By rule by destination (rule=\"default\": no rule took them): "+f.Help, dto.MetricType_COUNTER)
	}
	for _, e := range entries {
		gauge(info, 1, "cgroup", e.Name(), "state", string(e.State))
		if rules := e.ActiveRules(); len(rules) > 0 {
			for i, c := range sockops.RuleCounters {
				for r, rule := range rules {
					counter(ruleCounters[i], float64(e.RuleCounters[r][c]), "cgroup", e.Name(), "line", strconv.Itoa(int(rule.Line)), "rule", rule.Text)
				}
				counter(ruleCounters[i], float64(e.RuleCounters[sockops.Default][c]), "cgroup", e.Name(), "rule", "default")
			}
		}
		if s := e.Settings; s != nil {
			for i, f := range sockops.SettingFields {
				if s.Flags&f.Flag != 0 {
					gauge(settings[i], float64(f.Value(*s))*f.Scale, "cgroup", e.Name())
				}
			}
		}
		for i, mf := range counters {
			if e.Counted(i) { // not counted by this kernel's program: absent, not 0
				counter(mf, float64(e.Counters[i]), "cgroup", e.Name())
			}
		}
	}
	var out []*dto.MetricFamily
	for _, mf := range append(append(append([]*dto.MetricFamily{info}, settings...), counters...), ruleCounters...) {
		if len(mf.Metric) > 0 {
			out = append(out, mf)
		}
	}
	return out
}
