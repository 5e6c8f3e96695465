package test

import (
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
