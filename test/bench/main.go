// Command bench is `make bench`: what the library costs per socket, per
// accept and per process, against no preload, a minimal C shim (cshim.c, the
// floor any shim pays per call), an empty Go c-shared library (empty/, the
// floor any Go shim pays per process when its runtime starts) and the same
// built with the library's overlay and link flags ("inert Go", whose runtime
// never starts: the floor of this design). Every figure is a median of runs
// interleaved across the variants in the same invocation, so the machine's
// noise falls on all of them alike; read the ratios. A missed target is
// marked in the table and makes the command exit with status 1.
//
// It also times `keepalive status` on a host holding 10,000 loopback
// connections, and `keepalive apply` on 200 processes of 50 connections.
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
	goCmd := flag.String("go", "go", "the go command that builds the library")
	overlay := flag.String("overlay", "", "the library's -overlay file, for the inert Go library")
	ldflags := flag.String("ldflags", "", "the library's -ldflags, for the inert Go library")
	cc := flag.String("cc", "", "the library's C compiler (its glibc sysroot), for the inert Go library")
	cgoLdflags := flag.String("cgo-ldflags", "", "the library's CGO_LDFLAGS, for the inert Go library")
	ka := flag.String("cmd", "build/keepalive", "the keepalive command, for the status figure")
	conns := flag.Int("conns", 10000, "loopback connections held while keepalive status is timed")
	statusOnly := flag.Bool("status-only", false, "only the keepalive status and apply figures")
	applyProcs := flag.Int("apply-procs", 200, "processes keepalive apply is timed on")
	applyConns := flag.Int("apply-conns", 50, "connections each of them holds")
	cgroup := flag.Bool("cgroup", true, "also measure keepalive cgroup (root, cgroup v2)")
	flag.Parse()
	if n, err := strconv.Atoi(os.Getenv(holdVar)); err == nil {
		hold(n)
		return
	}
	if *statusOnly {
		missed := append(statusFigure(*ka, *conns, *rounds), applyFigure(*ka, *applyProcs, *applyConns, *rounds)...)
		if len(missed) > 0 {
			fmt.Printf("\ntarget missed: %s\n", strings.Join(missed, "; "))
			os.Exit(1)
		}
		return
	}
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
	run(*goCmd, "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w", "-o", empty, "./"+filepath.Join(src, "empty"))
	if *overlay == "" {
		log.Fatal("-overlay: the library's overlay is needed for the inert Go library (make bench passes it)")
	}
	// The inert floor is built as the library is: same overlay, link flags,
	// compiler and glibc sysroot, and the same libraries needed (libdl, for
	// dlsym on glibc before 2.34), so that it differs from the library by
	// the library's own code only.
	inert := filepath.Join(dir, "inert.so")
	build := exec.Command(*goCmd, "build", "-trimpath", "-buildmode=c-shared", "-overlay", *overlay, "-ldflags="+*ldflags, "-o", inert, "./"+filepath.Join(src, "empty"))
	build.Env = os.Environ()
	if *cc != "" {
		build.Env = append(build.Env, "CC="+*cc, "CGO_LDFLAGS="+*cgoLdflags)
	}
	if out, err := build.CombinedOutput(); err != nil {
		log.Fatalf("building the inert Go library: %v\n%s", err, out)
	}

	const ( // indexes of variants; 0 is no preload
		vCShim = iota + 1
		vEmpty
		vInert
		vOurs
	)
	variants := []variant{{"no preload", ""}, {"C shim", cshim}, {"empty Go", empty}, {"inert Go", inert}, {"libkeepalive", ours}}
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
	var missed []string
	// row prints one figure; limit > 0 is the target: at most limit times
	// the den variant's figure.
	row := func(name string, vals []float64, num, den int, limit float64, format string) {
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = fmt.Sprintf(format, v)
		}
		ratio := vals[num] / vals[den]
		target := "report"
		switch {
		case limit == 1:
			target = "<= " + variants[den].name
		case limit > 0:
			target = fmt.Sprintf("<= %.2fx %s", limit, variants[den].name)
		}
		mark := ""
		if limit > 0 && ratio > limit {
			mark = " **MISSED**"
			missed = append(missed, fmt.Sprintf("%s: %.3fx %s, target %s", name, ratio, variants[den].name, target))
		}
		fmt.Printf("| %s | %s | %.3fx %s%s | %s |\n", name, strings.Join(cells, " | "), ratio, variants[den].name, mark, target)
	}
	col := func(m [][]float64, j int) []float64 {
		var v []float64
		for _, x := range m {
			v = append(v, x[j])
		}
		return v
	}
	row("socket()+close(), ns per pair", col(sock, 0), vOurs, vCShim, 1.05, "%.0f")
	row("accept(), ns per accept", col(acc, 0), vOurs, vCShim, 1.05, "%.0f")
	row("spawn and reap /bin/true, us per process", col(spawn, 0), vOurs, vInert, 1.05, "%.0f")
	row("peak RSS of a host holding one socket, KiB", col(hold, 0), vOurs, vEmpty, 1, "%.0f")
	row("threads of that host", col(hold, 1), vOurs, vEmpty, 1, "%.0f")
	sizes := []float64{0}
	for _, v := range variants[1:] {
		sizes = append(sizes, size(v.lib))
	}
	row("size of the library, KiB", sizes, vOurs, vEmpty, 0, "%.0f")
	forceFigure(bench, ours, *rounds)
	missed = append(missed, destFigure(bench, ours, dir, *rounds)...)

	fmt.Println()
	missed = append(missed, statusFigure(*ka, *conns, *rounds)...)
	missed = append(missed, applyFigure(*ka, *applyProcs, *applyConns, *rounds)...)
	if *cgroup {
		missed = append(missed, benchCgroup(src, dir, *rounds)...)
	}
	if len(missed) > 0 {
		fmt.Printf("\n%d target(s) missed:\n", len(missed))
		for _, m := range missed {
			fmt.Println("  " + m)
		}
		os.RemoveAll(dir)
		os.Exit(1)
	}
	fmt.Println("\nevery target holds in this run")
}
