// Package systems boots Debian 11, 12 and 13 guests under qemu, with their
// own kernels and a real systemd, installs the project's .debs there with
// dpkg -i and runs the checks of guest/run.sh in them: the preload and the
// cgroup mode under real units, read back from the guest's kernel. `make
// test-systems` runs it (root; scripts/guest builds and caches the guests
// under build/guests/SUITE):
//
//	KEEPALIVE_SYSTEMS=1       run at all (else skipped: plain `go test` and
//	                          `make test` boot nothing)
//	KEEPALIVE_DEBS            the packages, space-separated (build/dist's
//	                          libkeepalive1_*_amd64.deb and keepalive_*_amd64.deb;
//	                          make adds libkeepalive1_*_i386.deb)
//	KEEPALIVE_CLIENT32        the 32-bit client (build/guests/client32)
//	KEEPALIVE_GUESTS          where the guests are cached (build/guests)
//	KEEPALIVE_SUITES          which, space-separated (bullseye bookworm trixie)
//	KEEPALIVE_GUEST_TIMEOUT   the bound of one boot (8m)
//
// Each guest boots twice from one copy of its disk: the first boot runs
// every check and enables the reboot units, the second checks them with no
// manual step in between. The guest writes one line per check to the 9p
// share (NAME, pass|fail|skip|info, DETAIL); each becomes a subtest,
// SUITE/NAME. A guest that does not finish in time is killed and reported
// with the tail of its console.
package systems

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libkeepalive/libkeepalive/test/internal/probebuild"
)

var suites = []string{"bullseye", "bookworm", "trixie"}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// accel is how the guests run: KVM when it boots a kernel here, else TCG.
type accel struct {
	name string
	args []string
}

var (
	accelOnce sync.Once
	accelUsed accel
	accelWhy  string
)

var tcg = accel{"tcg", []string{"-accel", "tcg,thread=multi", "-cpu", "max"}}

// ansi matches the terminal escapes of qemu's and SeaBIOS's console output.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|.)`)

// chooseAccel tries KVM first: a kernel must print its banner on the serial
// console within 30 s, and qemu must not report an error before it does
// (here KVM stops at once: "KVM internal error", qemu then waits, paused).
// Otherwise TCG, and why.
func chooseAccel(kernel, initrd string) (accel, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return tcg, fmt.Sprintf("no usable /dev/kvm (%v)", err)
	}
	f.Close()
	kvm := accel{"kvm", []string{"-accel", "kvm", "-cpu", "host"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{}, kvm.args...), "-m", "512M", "-nographic", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 rdinit=/bin/false")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return tcg, "KVM: " + err.Error()
	}
	// The first of: the banner (""), qemu's complaint, the end of output.
	verdict := make(chan string, 1)
	say := func(why string) {
		select {
		case verdict <- why:
			cancel()
		default:
		}
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Linux version") {
				say("")
			} else if strings.Contains(line, "error") || strings.Contains(line, "failed") {
				say(strings.TrimSpace(ansi.ReplaceAllString(line, "")))
			}
		}
		say("no kernel output in 30 s")
	}()
	cmd.Wait()
	pw.Close()
	if why := <-verdict; why != "" {
		return tcg, "KVM does not boot a kernel here: " + why
	}
	return kvm, "KVM boots a kernel here"
}

func TestSystems(t *testing.T) {
	if os.Getenv("KEEPALIVE_SYSTEMS") != "1" {
		t.Skip("SKIPPED LOUDLY: the guests run under `make test-systems` (KEEPALIVE_SYSTEMS=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the guests need root (debootstrap, KVM, bpffs in the guest)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-system-x86_64 is missing (apt-get install qemu-system-x86; scripts/deps systems): no guest was booted")
	}
	var debs []string
	for _, pattern := range strings.Fields(env("KEEPALIVE_DEBS", "../../build/dist/libkeepalive1_*_amd64.deb ../../build/dist/keepalive_*_amd64.deb")) {
		found, _ := filepath.Glob(pattern)
		if len(found) != 1 {
			t.Fatalf("want one package for %s (KEEPALIVE_DEBS, from make dist), found %v", pattern, found)
		}
		debs = append(debs, found[0])
	}
	guests, _ := filepath.Abs(env("KEEPALIVE_GUESTS", "../../build/guests"))
	probe := filepath.Join(guests, "probe")
	if err := probebuild.Static(probe, ""); err != nil {
		t.Fatal(err)
	}
	timeout, err := time.ParseDuration(env("KEEPALIVE_GUEST_TIMEOUT", "8m"))
	if err != nil {
		t.Fatal(err)
	}
	// The guests are made (or found in the cache) side by side: debootstrap
	// waits on the network more than on the processors. They boot one at a
	// time.
	want := strings.Fields(env("KEEPALIVE_SUITES", strings.Join(suites, " ")))
	ready := make([]chan made, len(want))
	for i, suite := range want {
		ready[i] = make(chan made, 1)
		go func() {
			start := time.Now()
			out, err := exec.Command("../../scripts/guest", suite, filepath.Join(guests, suite)).CombinedOutput()
			ready[i] <- made{strings.TrimSpace(string(out)), err, time.Since(start)}
		}()
	}
	for i, suite := range want {
		t.Run(suite, func(t *testing.T) {
			m := <-ready[i]
			if m.err != nil {
				t.Fatalf("scripts/guest %s: %v\n%s", suite, m.err, m.out)
			}
			if m.out != "" {
				t.Log(m.out)
			}
			t.Logf("%s: guest ready after %.0f s", suite, m.took.Seconds())
			g := &guest{suite: suite, dir: filepath.Join(guests, suite), debs: debs, probe: probe, timeout: timeout}
			g.run(t)
		})
	}
}

// made is what scripts/guest did for one suite.
type made struct {
	out  string
	err  error
	took time.Duration
}

type guest struct {
	suite, dir, probe string
	debs              []string
	timeout           time.Duration
}

func (g *guest) run(t *testing.T) {
	start := time.Now()
	kernel, initrd := filepath.Join(g.dir, "vmlinuz"), filepath.Join(g.dir, "initrd.img")
	accelOnce.Do(func() { accelUsed, accelWhy = chooseAccel(kernel, initrd) })
	t.Logf("accelerator: %s (%s)", strings.ToUpper(accelUsed.name), accelWhy)

	share := filepath.Join(g.dir, "share")
	os.RemoveAll(share)
	for _, c := range [][]string{
		{"mkdir", "-p", filepath.Join(share, "debs")},
		append([]string{"cp"}, append(g.debs, filepath.Join(share, "debs"))...),
		{"cp", "guest/run.sh", filepath.Join(share, "run")},
		{"cp", "guest/peer.py", g.probe, share},
		{"cp", env("KEEPALIVE_CLIENT32", "../../build/guests/client32"), filepath.Join(share, "client32")},
		{"cp", "-r", "guest/units", share},
		// One disk for both boots, so that the second sees what the first
		// enabled: a sparse copy of the cached image.
		{"cp", "--sparse=always", filepath.Join(g.dir, "root.img"), filepath.Join(g.dir, "disk.img")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	defer os.Remove(filepath.Join(g.dir, "disk.img"))
	for phase := 1; phase <= 2; phase++ {
		if !g.boot(t, share, phase) {
			return
		}
	}
	t.Logf("%s: %.0f s in all; the share with the console, journal and results: %s", g.suite, time.Since(start).Seconds(), share)
}

// boot runs one boot of the disk and turns its results into subtests; false
// when the guest did not finish (then the next boot is pointless).
func (g *guest) boot(t *testing.T, share string, phase int) bool {
	os.WriteFile(filepath.Join(share, "phase"), []byte(fmt.Sprintln(phase)), 0o644)
	results := filepath.Join(share, fmt.Sprintf("results-%d.tsv", phase))
	os.Remove(results)
	console := filepath.Join(share, fmt.Sprintf("console-%d.txt", phase))
	cf, err := os.Create(console)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	args := append(append([]string{}, accelUsed.args...), "-m", "2G", "-smp", "2", "-nographic", "-no-reboot",
		"-nic", "none", "-kernel", filepath.Join(g.dir, "vmlinuz"), "-initrd", filepath.Join(g.dir, "initrd.img"),
		"-append", "console=ttyS0 root=/dev/vda rw panic=-1",
		"-drive", "file="+filepath.Join(g.dir, "disk.img")+",format=raw,if=virtio",
		"-fsdev", "local,id=fs0,path="+share+",security_model=passthrough",
		"-device", "virtio-9p-pci,fsdev=fs0,mount_tag=share")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	var firstCheck time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(cf, "%7.2f %s\n", time.Since(start).Seconds(), line)
			if firstCheck == 0 && strings.Contains(line, "guest-check:") {
				firstCheck = time.Since(start)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	runErr := cmd.Run()
	pw.Close()
	<-done
	took := time.Since(start)
	name := fmt.Sprintf("boot%d", phase)
	if ctx.Err() != nil {
		// The checks it did finish are still reported below.
		t.Errorf("%s: %s: the guest did not power off within %v: killed. Console's tail:\n%s", g.suite, name, g.timeout, tail(console, 40))
	} else if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			t.Fatalf("qemu: %v", runErr)
		}
	}
	t.Logf("%s %s (%s): boot to the first check %.1f s, whole boot %.1f s", g.suite, name, strings.ToUpper(accelUsed.name),
		firstCheck.Seconds(), took.Seconds())
	data, err := os.ReadFile(results)
	if err != nil {
		if ctx.Err() == nil {
			t.Errorf("%s %s: no results from the guest (%v); qemu: %v. Console's tail:\n%s", g.suite, name, err, runErr, tail(console, 40))
		}
		return false
	}
	finished := false
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if line == "" {
			continue
		}
		if len(f) < 3 {
			t.Errorf("%s %s: a result line that is not NAME<TAB>VERDICT<TAB>DETAIL: %q", g.suite, name, line)
			continue
		}
		check, verdict, detail := f[0], f[1], f[2]
		if check == "done" {
			finished = true
			continue
		}
		t.Run(check, func(t *testing.T) {
			switch verdict {
			case "pass", "info":
				t.Log(detail)
			case "skip":
				t.Skip("SKIPPED LOUDLY: the guest says: " + detail)
			default:
				t.Error(detail)
			}
		})
	}
	if ctx.Err() != nil {
		return false
	}
	if !finished {
		t.Errorf("%s %s: the guest's checks stopped before the end (qemu: %v). Console's tail:\n%s", g.suite, name, runErr, tail(console, 40))
		return false
	}
	return true
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(string(data), ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
