package test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scripts/deps runs before anything is built, in every target that builds:
// the library needs gcc, which deps installs on a fresh machine.
func TestMakeRunsDepsFirst(t *testing.T) {
	need(t, "make")
	for _, target := range []string{"all", "build", "test", "bench", "install", "deb", "demo"} {
		// -B: as on a fresh machine, where nothing is built yet.
		out, err := exec.Command("make", "-n", "-B", "-C", "..", target, "DESTDIR="+t.TempDir()).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		lines := strings.Split(string(out), "\n")
		deps, build := -1, -1
		for i, l := range lines {
			if deps < 0 && strings.Contains(l, "scripts/deps") {
				deps = i
			}
			if build < 0 && regexp.MustCompile(`\bgo (build|test|run|vet)\b|scripts/gen-overlay`).MatchString(l) {
				build = i
			}
		}
		if deps < 0 || build < 0 || deps > build {
			t.Errorf("make %s: scripts/deps at line %d, the first build at line %d:\n%s", target, deps, build, out)
		}
	}
}

// make on a machine without gcc: a PATH holding everything this one has but
// the C compilers, and an apt-get that "installs" gcc by putting it back.
// The control: without deps, the same PATH cannot build the library.
func TestMakeWithoutGcc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: scripts/deps installs as root only; run as root")
	}
	need(t, "make")
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	compiler := regexp.MustCompile(`^(gcc|cc|c89|c99|c\+\+|g\+\+|clang|tcc)(-[0-9.]+)?$|-(gcc|g\+\+|cc)(-[0-9.]+)?$`)
	goBin := filepath.Dir(must(exec.LookPath("go")))
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), goBin) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if compiler.MatchString(e.Name()) {
				continue
			}
			os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(fake, e.Name())) // the first of a name wins, as in PATH
		}
	}
	log := filepath.Join(t.TempDir(), "apt-get.log")
	os.Remove(filepath.Join(fake, "apt-get"))
	// install and update are the fake's; anything else (apt-get download,
	// for a sysroot) is the real one's.
	realAptGet, _ := exec.LookPath("apt-get")
	aptGet := `#!/bin/sh
echo "$*" >> ` + log + `
case " $* " in
*" install "*" gcc "*) ln -sf ` + gcc + ` ` + fake + `/gcc ;;
*" install "*|*" update "*) ;;
*) exec ` + realAptGet + ` "$@" ;;
esac
`
	if err := os.WriteFile(filepath.Join(fake, "apt-get"), []byte(aptGet), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + fake}
	for _, kv := range baseEnv() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	// The control: no C compiler on this PATH.
	ctl := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(t.TempDir(), "x.so"), "./preload")
	ctl.Dir, ctl.Env = "..", append(env, "CGO_ENABLED=1") // as the Makefile builds it
	if out, err := ctl.CombinedOutput(); err == nil || !strings.Contains(string(out), `C compiler "gcc" not found`) {
		t.Fatalf("control: the library built without gcc on PATH, or failed otherwise; the case proves nothing: %v\n%s", err, out)
	}
	build := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "all", "BUILD="+build)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make without gcc: %v\n%s", err, out)
	}
	apt, _ := os.ReadFile(log)
	if !regexp.MustCompile(`(?m)^install .*\bgcc\b`).Match(apt) {
		t.Errorf("deps did not install gcc: apt-get was called with:\n%s", apt)
	}
	for _, f := range []string{"libkeepalive.so", "keepalive"} {
		if _, err := os.Stat(filepath.Join(build, f)); err != nil {
			t.Errorf("make without gcc: %v\n%s", err, out)
		}
	}
	if !strings.Contains(string(out), "SO_KEEPALIVE=1") {
		t.Errorf("the demo did not show the library at work:\n%s", out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// scripts/demo (the end of `make`): "the same with a typo" differs from the
// run before it only by the typo: the same options but TCP_KEEPIDLE, which
// keeps the kernel's value.
func TestDemo(t *testing.T) {
	py := python(t)
	demo, _ := filepath.Abs("../scripts/demo")
	r := run{env: []string{"PATH=" + filepath.Dir(py) + ":" + os.Getenv("PATH")}, args: []string{"sh", demo, lib}}.exec(t)
	var probes [][]string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "  SO_KEEPALIVE=") {
			probes = append(probes, strings.Fields(l))
		}
	}
	if r.status != 0 || len(probes) != 3 || !strings.Contains(r.stdout, "the same with a typo (KEEPIDLE=6O)") {
		t.Fatalf("demo: %s", r)
	}
	without, with, typo := probes[0], probes[1], probes[2]
	if with[0] != "SO_KEEPALIVE=1" || without[0] != "SO_KEEPALIVE=0" {
		t.Fatalf("demo: the library made no difference: %s", r)
	}
	for i := range with {
		idle := strings.HasPrefix(with[i], "TCP_KEEPIDLE=")
		if (with[i] != typo[i]) != idle || (idle && typo[i] != without[i]) {
			t.Errorf("demo: with the typo %s, without it %s (and with no library %s)", typo[i], with[i], without[i])
		}
	}
}

// The shipped library holds no test code: the C helpers through which shim's
// tests drive the C reader (shim/cparse/cparsetest) are not linked into it.
// The library is built by the Makefile's own rule, unstripped (STRIPFLAGS=),
// and its symbol table searched for the helpers, named from the bridge's
// source. The control: the same search finds every helper in the shim tests'
// binary, which links the bridge, so it can see them where they are.
func TestLibraryHoldsNoTestCode(t *testing.T) {
	need(t, "make")
	src, err := os.ReadFile("../shim/cparse/cparsetest/cparsetest.go")
	if err != nil {
		t.Fatal(err)
	}
	var helpers []string
	for _, m := range regexp.MustCompile(`(?m)^static\b[^;{(=\n]*?\b(test_\w+)\s*[\[(]`).FindAllStringSubmatch(string(src), -1) {
		helpers = append(helpers, m[1])
	}
	if len(helpers) < 5 {
		t.Fatalf("the bridge's source names only %v: the search would prove nothing", helpers)
	}
	// A helper as C has it (test_emit), as cgo wraps it
	// (_cgo_..._Cfunc_test_report) and as Go calls it (..._Cfunc_test_report.abi0).
	helper := regexp.MustCompile(`(^|[_.])(` + strings.Join(helpers, "|") + `)($|\.)`)
	found := func(path string) map[string][]string {
		t.Helper()
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		syms, err := f.Symbols()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		names := map[string][]string{}
		for _, s := range syms {
			if m := helper.FindStringSubmatch(s.Name); m != nil {
				names[m[2]] = append(names[m[2]], s.Name)
			} else if strings.Contains(s.Name, "cparsetest") || s.Name == "ka_parse" {
				names[s.Name] = append(names[s.Name], s.Name)
			}
		}
		return names
	}

	ctl := filepath.Join(t.TempDir(), "shim.test")
	if out, err := exec.Command("go", "test", "-c", "-o", ctl, "../shim").CombinedOutput(); err != nil {
		t.Fatalf("go test -c ../shim: %v\n%s", err, out)
	}
	have := found(ctl)
	for _, h := range helpers {
		if len(have[h]) == 0 {
			t.Errorf("control: %s is not in the shim tests' binary, which links the bridge; the search proves nothing (found %v)", h, have)
		}
	}

	build := t.TempDir()
	so := filepath.Join(build, "libkeepalive.so")
	if out, err := exec.Command("make", "-C", "..", "BUILD="+build, "STRIPFLAGS=", so).CombinedOutput(); err != nil {
		t.Fatalf("make %s STRIPFLAGS=: %v\n%s", so, err, out)
	}
	shipped := found(so)
	if len(shipped["ka_parse"]) == 0 {
		t.Fatalf("the unstripped library has no ka_parse: it is stripped, or the C reader is not in it; the search proves nothing")
	}
	delete(shipped, "ka_parse")
	if len(shipped) > 0 {
		t.Errorf("the library holds test code: %v", shipped)
	}
}
