package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// forceFigure is the cost of a program's own setsockopt of a keepalive
// option: without a preload, under the library (the wrapper passes it on)
// and under KEEPALIVE=force (the wrapper checks the socket and keeps the
// operator's value). Interleaved medians, as the other figures.
func forceFigure(bench, lib string, rounds int) {
	type v struct {
		name string
		env  []string
	}
	vs := []v{
		{"no preload", nil},
		{"libkeepalive", []string{"LD_PRELOAD=" + lib}},
		{"KEEPALIVE=force", []string{"LD_PRELOAD=" + lib, "KEEPALIVE=force"}},
	}
	samples := make([][]float64, len(vs))
	for r := 0; r < rounds; r++ {
		for i, x := range vs {
			cmd := exec.Command(bench, "setsockopt", "200000")
			cmd.Env = append(append(os.Environ(), env...), x.env...)
			out, err := cmd.Output()
			if err != nil {
				log.Fatalf("bench setsockopt under %s: %v", x.name, err)
			}
			f, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			samples[i] = append(samples[i], f)
		}
	}
	med := make([]float64, len(vs))
	for i, s := range samples {
		slices.Sort(s)
		med[i] = s[len(s)/2]
	}
	fmt.Printf("\nsetsockopt(TCP_KEEPIDLE) by the program, ns per call (medians of %d interleaved rounds):\n\n", rounds)
	fmt.Println("| no preload | libkeepalive | KEEPALIVE=force | force - no preload |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| %.1f | %.1f | %.1f | %+.1f ns |\n", med[0], med[1], med[2], med[2]-med[0])
}
