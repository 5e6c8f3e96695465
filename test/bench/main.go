// Command bench is `make bench`: what the library costs per socket, per
// accept and per process, against no preload, a minimal C shim (cshim.c, the
// floor any shim pays per call) and an empty Go c-shared library (empty/, the
// floor any Go shim pays per process). Every figure is a median of runs
// interleaved across the variants in the same invocation, so the machine's
// noise falls on all of them alike; read the ratios.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

var env = []string{"KEEPIDLE=60", "KEEPINTVL=10", "KEEPCNT=5", "KEEPUSERTIMEOUT=90"}

type variant struct {
	name string
	lib  string // "" for no preload
}

func main() {
	lib := flag.String("lib", "build/libkeepalive.so", "the library to measure")
	rounds := flag.Int("rounds", 7, "interleaved rounds per figure")
	extra := flag.String("with", "", "another library to measure beside the others, as NAME=PATH")
	cgroup := flag.Bool("cgroup", true, "also measure keepalive cgroup (root, cgroup v2)")
	flag.Parse()
	ours, err := filepath.Abs(*lib)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "libkeepalive-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	run := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	src := filepath.Dir(os.Args[0])
	if _, err := os.Stat("test/bench/c/bench.c"); err == nil {
		src = "test/bench"
	}
	bench := filepath.Join(dir, "bench")
	run("gcc", "-O2", "-o", bench, filepath.Join(src, "c", "bench.c"))
	cshim := filepath.Join(dir, "cshim.so")
	run("gcc", "-O2", "-shared", "-fPIC", "-o", cshim, filepath.Join(src, "c", "cshim.c"), "-ldl")
	empty := filepath.Join(dir, "empty.so")
	run("go", "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w", "-o", empty, "./"+filepath.Join(src, "empty"))

	variants := []variant{{"no preload", ""}, {"C shim", cshim}, {"empty Go", empty}, {"libkeepalive", ours}}
	if name, path, ok := strings.Cut(*extra, "="); ok {
		variants = append(variants, variant{name, path})
	}
	measure := func(args ...string) [][]float64 { // [variant][value index] medians
		samples := make([][][]float64, len(variants))
		for r := 0; r < *rounds; r++ {
			for i, v := range variants {
				cmd := exec.Command(bench, args...)
				cmd.Env = append(os.Environ(), env...)
				if v.lib != "" {
					cmd.Env = append(cmd.Env, "LD_PRELOAD="+v.lib)
				}
				out, err := cmd.Output()
				if err != nil {
					log.Fatalf("bench %v under %s: %v", args, v.name, err)
				}
				for j, f := range strings.Fields(string(out)) {
					x, _ := strconv.ParseFloat(f, 64)
					if len(samples[i]) <= j {
						samples[i] = append(samples[i], nil)
					}
					samples[i][j] = append(samples[i][j], x)
				}
			}
		}
		med := make([][]float64, len(variants))
		for i := range samples {
			for _, s := range samples[i] {
				slices.Sort(s)
				med[i] = append(med[i], s[len(s)/2])
			}
		}
		return med
	}

	sock := measure("socket", "200000")
	acc := measure("accept", "20000")
	spawn := measure("spawn", "300")
	hold := measure("hold")
	size := func(p string) float64 {
		st, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return float64(st.Size()) / 1024
	}

	fmt.Printf("libkeepalive bench: medians of %d interleaved rounds; %s\n\n", *rounds, strings.Join(env, " "))
	head := "| figure |"
	for _, v := range variants {
		head += " " + v.name + " |"
	}
	fmt.Println(head + " ratio | target |")
	fmt.Println(strings.Repeat("|---", len(variants)+3) + "|")
	row := func(name string, vals []float64, num, den int, target string, format string) {
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = fmt.Sprintf(format, v)
		}
		ratio := vals[num] / vals[den]
		fmt.Printf("| %s | %s | %.3fx %s | %s |\n", name, strings.Join(cells, " | "), ratio, variants[den].name, target)
	}
	col := func(m [][]float64, j int) []float64 {
		var v []float64
		for _, x := range m {
			v = append(v, x[j])
		}
		return v
	}
	row("socket()+close(), ns per pair", col(sock, 0), 3, 1, "<= 1.05x C shim", "%.0f")
	row("accept(), ns per accept", col(acc, 0), 3, 1, "<= 1.05x C shim", "%.0f")
	row("spawn and reap /bin/true, us per process", col(spawn, 0), 3, 2, "<= 1.05x empty Go", "%.0f")
	row("peak RSS of a host holding one socket, KiB", col(hold, 0), 3, 2, "<= empty Go", "%.0f")
	row("threads of that host", col(hold, 1), 3, 2, "<= empty Go", "%.0f")
	sizes := []float64{0}
	for _, v := range variants[1:] {
		sizes = append(sizes, size(v.lib))
	}
	row("size of the library, KiB", sizes, 3, 2, "report", "%.0f")
	forceFigure(bench, ours, *rounds)
	if *cgroup {
		benchCgroup(src, dir, *rounds)
	}
}
