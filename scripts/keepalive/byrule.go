package main

// keepalive status and keepalive metrics count the connections at risk by
// the rule by destination of the configuration file they fall under
// (hostscan.ByRule), when the file holds rules.

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	dto "github.com/prometheus/client_model/go"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/hostscan"
	"github.com/libkeepalive/libkeepalive/shim"
)

// rulesFile reads the configuration file whose rules status and metrics
// count by: config (--config) or the default file. KEEPALIVE_CONFIG is not
// read: the processes scanned were not started from this shell, and the
// cgroup mode reads the same two. A file named with --config that cannot
// be read is an error; the default file may be absent, and one that cannot
// be read gives a note and no rules. A rule with a problem is ignored, as
// the library ignores it.
func rulesFile(config string) (f shim.File, note string, err error) {
	path, named := shim.DefaultFile, config != ""
	if named {
		path = config
	}
	f = shim.ReadFile(path, named)
	for _, p := range f.Problems {
		if p.Line == 0 { // the whole file: the library's words, without what it does instead
			why, _, _ := strings.Cut(p.Err.Error(), ";")
			if named {
				return f, "", fmt.Errorf("%s %s", shim.ShowPath(path), why)
			}
			return f, fmt.Sprintf("%s %s: connections are not counted by rule", shim.ShowPath(path), why), nil
		}
	}
	return f, "", nil
}

// byRuleReport is keepalive status --json's by_rule: null when the file
// holds no rules.
type byRuleReport struct {
	Config        string       `json:"config"`
	Rules         []ruleReport `json:"rules"`
	DefaultAtRisk int          `json:"default_at_risk"`
	Problems      []string     `json:"problems"`
}

type ruleReport struct {
	Line        int    `json:"line"`
	Rule        string `json:"rule"`
	LeavesAlone bool   `json:"leaves_alone"` // KEEPALIVE=off
	AtRisk      int    `json:"at_risk"`      // 0 when LeavesAlone
	LeftAlone   int    `json:"left_alone"`   // without keepalive under a KEEPALIVE=off rule
}

func byRuleReportOf(b *hostscan.ByRule) *byRuleReport {
	if b == nil || len(b.File.Dests) == 0 {
		return nil
	}
	r := &byRuleReport{Config: b.File.Path, Rules: []ruleReport{}, DefaultAtRisk: b.Default, Problems: []string{}}
	for i, d := range b.File.Dests {
		rr := ruleReport{Line: d.Line, Rule: d.String(), LeavesAlone: d.LeavesAlone()}
		if rr.LeavesAlone {
			rr.LeftAlone = b.Rules[i]
		} else {
			rr.AtRisk = b.Rules[i]
		}
		r.Rules = append(r.Rules, rr)
	}
	for _, p := range b.File.Problems {
		r.Problems = append(r.Problems, p.Message())
	}
	return r
}

// printByRule is keepalive status's section: nothing when the file holds
// no rules.
func printByRule(stdout io.Writer, b *hostscan.ByRule) {
	if b == nil || len(b.File.Dests) == 0 {
		return
	}
	path := shim.ShowPath(b.File.Path)
	fmt.Fprintf(stdout, "At risk by rule (%s; the first rule that matches a connection's far end and service port):\n", path)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  AT-RISK\tLINE\tRULE")
	for i, d := range b.File.Dests {
		if d.LeavesAlone() {
			fmt.Fprintf(w, "  -\t%d\t%s (left alone by rule: %d connection(s) without keepalive by choice)\n", d.Line, d, b.Rules[i])
		} else {
			fmt.Fprintf(w, "  %d\t%d\t%s\n", b.Rules[i], d.Line, d)
		}
	}
	fmt.Fprintf(w, "  %d\t-\tthe default (no rule matches)\n", b.Default)
	w.Flush()
	if n := len(b.File.Problems); n > 0 {
		fmt.Fprintf(stdout, "(%d problem(s) in %s, which keepalive check --config %s lists: a rule with one is ignored, as the library ignores it)\n", n, path, path)
	}
}

// byRuleFamilies are the metrics of the connections at risk by rule: none
// when the file holds no rules.
func byRuleFamilies(b *hostscan.ByRule) []*dto.MetricFamily {
	if b == nil || len(b.File.Dests) == 0 {
		return nil
	}
	risk := family("keepalive_at_risk_connections_by_rule",
		"Established TCP connections without keepalive, by the rule by destination of the configuration file they fall under "+
			"(line and text; rule=\"default\" for those no rule matches); rules with KEEPALIVE=off are in keepalive_left_alone_connections_by_rule.",
		dto.MetricType_GAUGE)
	alone := family("keepalive_left_alone_connections_by_rule",
		"Established TCP connections without keepalive under a rule by destination with KEEPALIVE=off: left alone by the operator's choice, not at risk.",
		dto.MetricType_GAUGE)
	for i, d := range b.File.Dests {
		mf := risk
		if d.LeavesAlone() {
			mf = alone
		}
		gauge(mf, float64(b.Rules[i]), "line", strconv.Itoa(d.Line), "rule", d.String())
	}
	gauge(risk, float64(b.Default), "rule", "default")
	out := []*dto.MetricFamily{risk}
	if len(alone.Metric) > 0 {
		out = append(out, alone)
	}
	return out
}

// scanByRule reads the rules file and scans the host, with each
// connection's ends when the file holds rules, and counts them by rule (b
// nil without rules); ok is false when either failed, said on stderr as
// who.
func scanByRule(who, config string, timers bool, stderr io.Writer) (h *hostscan.Host, b *hostscan.ByRule, ok bool) {
	file, note, err := rulesFile(config)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --config %v\n", who, err)
		return nil, nil, false
	}
	if note != "" {
		fmt.Fprintf(stderr, "%s: note: %s\n", who, note)
	}
	byRule := len(file.Dests) > 0
	if h, err = hostscan.Scan(hostscan.Options{Timers: timers, Conns: byRule}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", who, err)
		return nil, nil, false
	}
	if byRule {
		b = h.ByRule(file)
	}
	return h, b, true
}
