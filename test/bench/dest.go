package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// destFigure is the cost of rules by destination on a client: socket()
// plus connect(), and connect() alone, without a preload, under the
// library without rules (connect() is wrapped for rules: a flag test
// after the real call, which must cost nothing measurable), and with 16
// rules (the connection matching none, then the last). Interleaved
// medians, as the other figures. Returns the targets missed.
func destFigure(bench, lib, dir string, rounds int) []string {
	var none, last strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&none, "to 10.%d.0.0/16 port %d KEEPIDLE=%d\n", i, 1000+i, 10+i)
	}
	last.WriteString(none.String())
	last.WriteString("to 127.0.0.0/8 KEEPIDLE=60\n")
	confs := map[string]string{"none": none.String(), "last": last.String()}
	paths := map[string]string{}
	for name, text := range confs {
		paths[name] = filepath.Join(dir, "dest-"+name+".conf")
		if err := os.WriteFile(paths[name], []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "dest-empty.conf")
	os.WriteFile(empty, nil, 0o644)
	type v struct {
		name string
		env  []string
	}
	vs := []v{
		{"no preload", nil},
		{"libkeepalive, no rules", []string{"LD_PRELOAD=" + lib, "KEEPALIVE_CONFIG=" + empty}},
		{"16 rules, none matches", []string{"LD_PRELOAD=" + lib, "KEEPALIVE_CONFIG=" + paths["none"]}},
		{"17 rules, the last matches", []string{"LD_PRELOAD=" + lib, "KEEPALIVE_CONFIG=" + paths["last"]}},
	}
	samples := make([][2][]float64, len(vs))
	for r := 0; r < rounds; r++ {
		for i, x := range vs {
			cmd := exec.Command(bench, "connect", "20000")
			cmd.Env = append(append(os.Environ(), env...), x.env...)
			out, err := cmd.Output()
			if err != nil {
				log.Fatalf("bench connect under %s: %v", x.name, err)
			}
			for j, f := range strings.Fields(string(out)) {
				n, _ := strconv.ParseFloat(f, 64)
				samples[i][j] = append(samples[i][j], n)
			}
		}
	}
	med := make([][2]float64, len(vs))
	for i := range samples {
		for j := range samples[i] {
			s := samples[i][j]
			slices.Sort(s)
			med[i][j] = s[len(s)/2]
		}
	}
	fmt.Printf("\nrules by destination, a loopback client, ns (medians of %d interleaved rounds):\n\n", rounds)
	head := "| figure |"
	for _, x := range vs {
		head += " " + x.name + " |"
	}
	fmt.Println(head + " ratio | target |")
	fmt.Println(strings.Repeat("|---", len(vs)+3) + "|")
	var missed []string
	for j, name := range []string{"socket()+connect()", "connect() alone"} {
		cells := ""
		for i := range vs {
			cells += fmt.Sprintf(" %.0f |", med[i][j])
		}
		ratio := med[1][j] / med[0][j]
		target, mark := "report", ""
		if j == 1 {
			target = "no rules <= 1.05x no preload"
			if ratio > 1.05 {
				mark = " **MISSED**"
				missed = append(missed, fmt.Sprintf("connect() without rules: %.3fx no preload, target 1.05x", ratio))
			}
		}
		fmt.Printf("| %s |%s %.3fx no preload (no rules); %.3fx (17 rules)%s | %s |\n", name, cells, ratio, med[3][j]/med[0][j], mark, target)
	}
	return missed
}
