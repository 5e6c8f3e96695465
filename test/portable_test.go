package test

// The builds for where legacy daemons live: the glibc floor of every glibc
// build, read from its dynamic symbol table; the amd64 library inside real
// Debian 11 programs (glibc 2.31); the arm64 library under qemu-user; the musl
// library in musl programs. `make test` builds each and passes it in:
//
//	KEEPALIVE_LIB_ARM64  build/linux-arm64/libkeepalive.so
//	KEEPALIVE_LIB_MUSL   build/linux-amd64-musl/libkeepalive.so
//	KEEPALIVE_LIB_I386   build/linux-i386/libkeepalive.so
//	KEEPALIVE_BULLSEYE_I386 build/bullseye-i386 (scripts/sysroot --root DIR i386)
//	KEEPALIVE_SYSROOT    build/sysroot (amd64/, arm64/ and i386/, scripts/sysroot)
//	KEEPALIVE_BULLSEYE   build/bullseye (scripts/sysroot --root)

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// floor is the newest glibc symbol version a glibc build may need: CentOS 7's.
var floor = [2]int{2, 17}

// portableEnv returns the named variable, skipping loudly when it is unset
// (a bare `go test`) and failing when it names nothing.
func portableEnv(t *testing.T, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("SKIPPED LOUDLY: %s is not set, so %s is not tested; `make test` sets it", name, what)
	}
	if _, err := os.Stat(v); err != nil {
		t.Fatalf("%s=%s: %v", name, v, err)
	}
	abs, _ := filepath.Abs(v)
	return abs
}

// tooNew lists the imports of an ELF object that need a glibc symbol version
// newer than the floor, as auditwheel does for manylinux: each versioned
// symbol, and each version the object's verneed section asks of a glibc
// library (which also catches a version no symbol names).
func tooNew(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	newer := func(v string) bool {
		rest, ok := strings.CutPrefix(v, "GLIBC_")
		if !ok {
			return false
		}
		var n [2]int
		parts := strings.SplitN(rest, ".", 3)
		for i := 0; i < 2 && i < len(parts); i++ {
			x, err := strconv.Atoi(parts[i])
			if err != nil {
				return true // GLIBC_PRIVATE and the like: no release promises it
			}
			n[i] = x
		}
		return n[0] > floor[0] || n[0] == floor[0] && n[1] > floor[1]
	}
	var bad []string
	syms, err := f.ImportedSymbols()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range syms {
		if newer(s.Version) {
			bad = append(bad, s.Name+"@"+s.Version)
			seen[s.Version] = true
		}
	}
	needs, err := f.DynamicVersionNeeds()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, err
	}
	for _, n := range needs {
		for _, d := range n.Needs {
			if newer(d.Dep) && !seen[d.Dep] {
				bad = append(bad, n.Name+" "+d.Dep)
			}
		}
	}
	return bad, nil
}

func compile(t *testing.T, cc []string, args ...string) {
	t.Helper()
	all := append(append(append([]string{}, cc[1:]...), "-O1", "-Wall", "-Werror"), args...)
	if out, err := exec.Command(cc[0], all...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc[0], strings.Join(all, " "), err, out)
	}
}

// sysrootCC is gcc (or the cross gcc) linking against the Debian 11 sysroot,
// as the Makefile builds the library.
func sysrootCC(root, arch string) []string {
	triplet, gcc := "x86_64-linux-gnu", "gcc"
	switch arch {
	case "arm64":
		triplet, gcc = "aarch64-linux-gnu", "aarch64-linux-gnu-gcc"
	case "i386":
		triplet, gcc = "i386-linux-gnu", "i686-linux-gnu-gcc"
	}
	sr := filepath.Join(root, arch)
	return []string{gcc, "--sysroot=" + sr, "-L" + sr + "/usr/lib/" + triplet, "-L" + sr + "/lib/" + triplet}
}

// Every glibc build needs nothing newer than GLIBC_2.17. The controls: the
// same check flags a library built against this machine's libc (dlsym is
// GLIBC_2.34 here) and passes that library built against the sysroot, so it
// can fail and does not fail everything.
func TestGlibcFloor(t *testing.T) {
	root := portableEnv(t, "KEEPALIVE_SYSROOT", "the glibc floor")
	dir := t.TempDir()
	host := filepath.Join(dir, "libfloor-host.so")
	compile(t, []string{"gcc"}, "-shared", "-fPIC", "-o", host, "c/floor.c")
	bad, err := tooNew(host)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) == 0 {
		t.Fatalf("control: %s, built against this machine's glibc, passes the floor check: the check proves nothing", host)
	}
	t.Logf("control: a library built against this machine's glibc needs %v", bad)
	old := filepath.Join(dir, "libfloor-bullseye.so")
	compile(t, sysrootCC(root, "amd64"), "-shared", "-fPIC", "-o", old, "c/floor.c", "-ldl")
	if bad, err := tooNew(old); err != nil || len(bad) > 0 {
		t.Fatalf("control: %s, built against the sysroot, needs %v (%v)", old, bad, err)
	}

	for _, arch := range []string{"amd64", "arm64", "i386"} {
		t.Run(arch, func(t *testing.T) {
			path := lib
			switch arch {
			case "arm64":
				path = portableEnv(t, "KEEPALIVE_LIB_ARM64", "the arm64 library's floor")
			case "i386":
				path = portableEnv(t, "KEEPALIVE_LIB_I386", "the i386 library's floor")
			}
			bad, err := tooNew(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Errorf("%s needs glibc symbol versions newer than GLIBC_%d.%d: %s; on an older glibc the loader refuses it and the preloaded program exits 127",
					path, floor[0], floor[1], strings.Join(bad, ", "))
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			libs, _ := f.ImportedLibraries()
			if !strings.Contains(strings.Join(libs, " "), "libdl.so.2") {
				t.Errorf("%s does not need libdl.so.2 (needs %v): before glibc 2.34 dlsym lives there, and a host that does not link it dies with undefined symbol: dlsym", path, libs)
			}
		})
	}
}

// result of an exec.Cmd, run to its end; a run past its timeout is a hang.
func finish(t *testing.T, cmd *exec.Cmd, ctx context.Context) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s hung: killed\n%s", strings.Join(cmd.Args, " "), res)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.status = ee.Sys().(syscall.WaitStatus)
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	default:
		res.status = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	return res
}

// bullseye runs programs inside a Debian 11 root with files of the test's
// copied into it.
// binTrue runs the root's own /bin/true (which links neither libdl nor
// libpthread) under the library ka: the same status as without it and
// nothing said, clean or tuned; with a bad value, the same status and the
// message (badLine).
func (b bullseye) binTrue(t *testing.T, ka, badLine string) {
	t.Helper()
	control := b.run(t, "", nil, "/bin/true")
	if control.status != 0 || control.stderr != "" {
		t.Fatalf("control /bin/true:\n%s", control)
	}
	for _, env := range [][]string{nil, tuned} {
		if r := b.run(t, ka, env, "/bin/true"); r.status != control.status || r.stderr != "" {
			t.Errorf("/bin/true under the library (%v):\n%s", env, r)
		}
	}
	if r := b.run(t, ka, []string{"KEEPCNT=abc"}, "/bin/true"); r.status != control.status || !strings.Contains(r.stderr, badLine) {
		t.Errorf("/bin/true with a bad value: want %s and the message, got\n%s", describeStatus(control.status), r)
	}
}

// python3 runs the root's own python3 without and with the library ka
// (given as the root sees it): tuned on IPv4 and IPv6 against the control,
// and a bad value reported (badLine) with keepalive still on and the
// kernel's count kept.
func (b bullseye) python3(t *testing.T, ka, badLine string) {
	t.Helper()
	script := pyScript("sockopts_pass.py")
	control := b.run(t, "", tuned, "python3", "-c", script)
	passed(t, "python3 control", control)
	shim := b.run(t, ka, tuned, "python3", "-c", script)
	passed(t, "python3", shim)
	for _, fam := range []string{"AF_INET", "AF_INET6"} {
		wantUntouched(t, fam, line(control.stdout, fam))
		wantTuned(t, fam, line(shim.stdout, fam), "3000")
	}
	bad := b.run(t, ka, append(tuned, "KEEPCNT=abc"), "python3", "-c", script)
	passed(t, "python3 with a bad value", bad)
	got, kernel := line(bad.stdout, "AF_INET"), line(control.stdout, "AF_INET")
	if !strings.Contains(bad.stderr, badLine) || got["ka"] != "1" || got["idle"] != "10" || got["cnt"] != kernel["cnt"] {
		t.Errorf("python3 with KEEPCNT=abc: want the message, keepalive on, idle 10, the kernel's count %s; got %v:\n%s", kernel["cnt"], got, bad)
	}
}

type bullseye struct {
	root, dir string // dir: the copies, as seen inside the root
}

func (b bullseye) run(t *testing.T, preload string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A /proc of its own, in a mount namespace that ends with the run, so
	// nothing is left mounted. env -i inside the root: nothing of this
	// machine's environment, and LD_PRELOAD reaches only the program, not
	// chroot or env.
	all := []string{"--mount", "--propagation", "private", "sh", "-c", `mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`,
		b.root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if preload != "" {
		all = append(all, "LD_PRELOAD="+preload)
	}
	all = append(append(all, env...), args...)
	return finish(t, exec.CommandContext(ctx, "unshare", all...), ctx)
}

// The amd64 library inside real Debian 11 programs: /bin/true (which links
// neither libdl nor libpthread), python3, and a C driver built against
// bullseye. Each next to the same program without the library.
func TestBullseye(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the Debian 11 cases chroot, which needs root")
	}
	root := portableEnv(t, "KEEPALIVE_BULLSEYE", "the library in Debian 11 programs")
	sysroot := portableEnv(t, "KEEPALIVE_SYSROOT", "the library in Debian 11 programs")
	if v, err := os.ReadFile(filepath.Join(root, "etc/debian_version")); err != nil || !strings.HasPrefix(string(v), "11.") {
		t.Fatalf("%s is not a Debian 11 root: etc/debian_version %q, %v", root, v, err)
	}
	copies, err := os.MkdirTemp(filepath.Join(root, "tmp"), "libkeepalive-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(copies) })
	os.Chmod(copies, 0o755)
	b := bullseye{root: root, dir: "/tmp/" + filepath.Base(copies)}
	in := func(name string) string { return b.dir + "/" + name }
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copies, "libkeepalive.so"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	cc := sysrootCC(sysroot, "amd64")
	compile(t, cc, "-o", filepath.Join(copies, "sockets"), "c/sockets.c")
	compile(t, cc, "-shared", "-fPIC", "-Wl,-z,now", "-o", filepath.Join(copies, "libfloor-noldl.so"), "c/floor.c")
	compile(t, []string{"gcc"}, "-shared", "-fPIC", "-o", filepath.Join(copies, "libfloor-host.so"), "c/floor.c")
	ka := in("libkeepalive.so")
	const badLine = `libkeepalive: KEEPCNT="abc"`

	t.Run("controls", func(t *testing.T) {
		// The two ways a library fails in an old host, shown by small
		// libraries: built against this machine's glibc, or without -ldl.
		// If these loaded, the cases below could not fail.
		for name, want := range map[string]string{"libfloor-host.so": "GLIBC_2.3", "libfloor-noldl.so": "undefined symbol: dlsym"} {
			r := b.run(t, in(name), nil, "/bin/true")
			if r.status.ExitStatus() == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("/bin/true under %s: want a failed start and %q, got\n%s", name, want, r)
			}
		}
	})

	t.Run("true", func(t *testing.T) { b.binTrue(t, ka, badLine) })

	t.Run("python3", func(t *testing.T) { b.python3(t, ka, badLine) })

	// The .deb installs on Debian 11, and its command finds the installed
	// library by itself. Removed again, so the cached root stays as made.
	t.Run("deb", func(t *testing.T) {
		dist := portableEnv(t, "KEEPALIVE_DIST", "the .debs on Debian 11")
		var inside []string
		for _, name := range []string{"libkeepalive1", "keepalive"} {
			debs, _ := filepath.Glob(filepath.Join(dist, name+"_*_amd64.deb"))
			if len(debs) != 1 {
				t.Fatalf("want one %s_*_amd64.deb, have %v", name, debs)
			}
			data, err := os.ReadFile(debs[0])
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(copies, name+".deb"), data, 0o644)
			inside = append(inside, in(name+".deb"))
		}
		t.Cleanup(func() { b.run(t, "", nil, "dpkg", "--purge", "keepalive", "libkeepalive1") })
		if r := b.run(t, "", nil, append([]string{"dpkg", "-i"}, inside...)...); r.status != 0 {
			t.Fatalf("dpkg -i on Debian 11:\n%s", r)
		}
		r := b.run(t, "", nil, "/usr/bin/keepalive", "--idle", "10", "--interval", "5", "--count", "3", "--user-timeout", "3",
			"--", "python3", "-c", pyScript("sockopts_pass.py"))
		passed(t, "keepalive -- python3", r)
		wantTuned(t, "AF_INET", line(r.stdout, "AF_INET"), "3000")
	})

	t.Run("driver", func(t *testing.T) {
		control := b.run(t, "", tuned, in("sockets"))
		passed(t, "sockets control", control)
		wantUntouched(t, "inet_stream", line(control.stdout, "inet_stream"))
		shim := b.run(t, ka, tuned, in("sockets"))
		passed(t, "sockets", shim)
		wantTuned(t, "inet_stream", line(shim.stdout, "inet_stream"), "3000")
		wantTuned(t, "inet6_stream", line(shim.stdout, "inet6_stream"), "3000")
		bad := b.run(t, ka, []string{"KEEPIDLE=10", "KEEPCNT=abc"}, in("sockets"))
		passed(t, "sockets with a bad value", bad)
		if !strings.Contains(bad.stderr, badLine) || line(bad.stdout, "inet_stream")["idle"] != "10" {
			t.Errorf("sockets with KEEPCNT=abc: want the message and idle=10:\n%s", bad)
		}
	})
}

// A platform runs drivers built for another libc or architecture.
type platform struct {
	name  string
	lib   string
	cc    []string
	dir   string // the compiled drivers
	start func(ctx context.Context, preload bool, env []string, args ...string) *exec.Cmd
}

func (p platform) run(t *testing.T, preload bool, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return finish(t, p.start(ctx, preload, env, args...), ctx)
}

// arm64: drivers cross-compiled against Debian 12's arm64 libc, run by
// qemu-user. LD_PRELOAD goes to the emulated program (-E), never to qemu.
func arm64Platform(t *testing.T) platform {
	p := platform{name: "arm64", cc: []string{"aarch64-linux-gnu-gcc"}, dir: t.TempDir()}
	p.lib = portableEnv(t, "KEEPALIVE_LIB_ARM64", "the arm64 library")
	for _, tool := range []string{"qemu-aarch64", "aarch64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: `make test` installs it (scripts/deps cross portable)", tool)
		}
	}
	p.start = func(ctx context.Context, preload bool, env []string, args ...string) *exec.Cmd {
		q := []string{"-L", "/usr/aarch64-linux-gnu"}
		if preload {
			q = append(q, "-E", "LD_PRELOAD="+p.lib)
		}
		cmd := exec.CommandContext(ctx, "qemu-aarch64", append(append(q, filepath.Join(p.dir, args[0])), args[1:]...)...)
		cmd.Env = append(baseEnv(), env...)
		return cmd
	}
	return p
}

// musl: drivers built by musl-gcc, started directly (the musl loader).
func muslPlatform(t *testing.T) platform {
	p := platform{name: "musl", cc: []string{"musl-gcc"}, dir: t.TempDir()}
	p.lib = portableEnv(t, "KEEPALIVE_LIB_MUSL", "the musl library")
	if _, err := exec.LookPath("musl-gcc"); err != nil {
		t.Fatal("musl-gcc is missing: `make test` installs it (scripts/deps cross)")
	}
	p.start = func(ctx context.Context, preload bool, env []string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(p.dir, args[0]), args[1:]...)
		cmd.Env = append(baseEnv(), env...)
		if preload {
			cmd.Env = append(cmd.Env, "LD_PRELOAD="+p.lib)
		}
		return cmd
	}
	return p
}

func TestArm64(t *testing.T) { testPlatform(t, arm64Platform(t)) }
func TestMusl(t *testing.T) {
	p := muslPlatform(t)
	testPlatform(t, p)
	// The musl tarball ships the same static command: it must preload the
	// musl library it is given into a musl program.
	t.Run("command", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, command, "--lib", p.lib, "--idle", "10", "--interval", "5", "--count", "3",
			"--user-timeout", "3", "--", filepath.Join(p.dir, "sockets"))
		cmd.Env = baseEnv()
		r := finish(t, cmd, ctx)
		passed(t, "keepalive -- sockets", r)
		wantTuned(t, "inet_stream", line(r.stdout, "inet_stream"), "3000")
	})
}

// The cases every other build runs, each next to its control: options set on
// IPv4 and IPv6 sockets, on an accepted one, in forked children, a bad value
// reported with the host running on to the same exit status, and a signalfd
// daemon that gets every signal, with and without a bad value.
func testPlatform(t *testing.T, p platform) {
	for _, d := range []string{"sockets", "accept", "signals", "forks"} {
		compile(t, p.cc, "-o", filepath.Join(p.dir, d), filepath.Join("c", d+".c"), "-lpthread")
	}
	pair := func(t *testing.T, env []string, args ...string) (control, shim result) {
		control = p.run(t, false, env, args...)
		passed(t, args[0]+" control", control)
		shim = p.run(t, true, env, args...)
		if shim.stderr != "" {
			t.Logf("stderr under the library:\n%s", shim.stderr)
		}
		return control, shim
	}
	t.Run("sockets", func(t *testing.T) {
		control, shim := pair(t, tuned, "sockets")
		passed(t, "sockets", shim)
		for _, k := range []string{"inet_stream", "inet6_stream", "inet6_stream_nonblock_cloexec"} {
			wantUntouched(t, k, line(control.stdout, k))
			wantTuned(t, k, line(shim.stdout, k), "3000")
		}
		if got := line(shim.stdout, "unix_stream"); got["ka"] != "0" {
			t.Errorf("unix_stream touched: %v", got)
		}
	})
	t.Run("accept", func(t *testing.T) {
		control, shim := pair(t, tuned, "accept", "raw")
		passed(t, "accept", shim)
		wantUntouched(t, "accepted", line(control.stdout, "accepted"))
		wantTuned(t, "accepted", line(shim.stdout, "accepted"), "3000")
	})
	t.Run("fork", func(t *testing.T) {
		control, shim := pair(t, nil, "forks")
		passed(t, "forks", shim)
		if got := firstLine(control.stdout); got != "children=20 child_ka=0" {
			t.Fatalf("control: %q", got)
		}
		if got := firstLine(shim.stdout); got != "children=20 child_ka=20" {
			t.Errorf("%q", got)
		}
	})
	t.Run("bad-value", func(t *testing.T) {
		env := []string{"KEEPIDLE=10", "KEEPCNT=abc"}
		control, shim := pair(t, env, "sockets")
		if shim.status != control.status || !strings.Contains(shim.stdout, "PASS\n") {
			t.Fatalf("with KEEPCNT=abc the host did not run on to %s:\n%s", describeStatus(control.status), shim)
		}
		if !strings.Contains(shim.stderr, `libkeepalive: KEEPCNT="abc"`) {
			t.Errorf("KEEPCNT=abc not reported:\n%s", shim)
		}
		got, kernel := line(shim.stdout, "inet_stream"), line(control.stdout, "inet_stream")
		if got["ka"] != "1" || got["idle"] != "10" || got["cnt"] != kernel["cnt"] {
			t.Errorf("want keepalive on, idle 10 and the kernel's count %s; got %v", kernel["cnt"], got)
		}
	})
	t.Run("signalfd", func(t *testing.T) {
		for _, m := range modes {
			for _, preload := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/preload=%v", m.name, preload), func(t *testing.T) {
					r := signalDaemon(t, p, preload, m.env)
					if preload {
						m.check(t, r)
					}
				})
			}
		}
	})
}

// signalDaemon runs `signals signalfd`, sends SIGHUP and SIGUSR1 three times
// each, one at a time, then SIGTERM, and insists on every one being read.
// No real-time signal: qemu-user keeps the host's first ones for itself (it
// dies of signal 34), and musl's SIGRTMIN is not glibc's.
func signalDaemon(t *testing.T, p platform, preload bool, env []string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := p.start(ctx, preload, env, "signals", "signalfd")
	return result{stderr: signalExchange(t, ctx, cmd, []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1}, "done hup=3 usr1=3 rtmin=0")}
}
