package systems

// TestArm64Guest boots an arm64 Debian 12 kernel under qemu-system-aarch64
// (TCG: -M virt -cpu max) with an initramfs and no disk, and runs
// guest/arm64-init.sh there as PID 1: the arm64 library preloaded into
// dynamic C programs (test/c), and the cgroup mode of the arm64 command,
// whose BPF program the arm64 JIT compiles. `make test-arm64-guest` runs
// it:
//
//	KEEPALIVE_ARM64_GUEST=1     run at all (else skipped)
//	KEEPALIVE_ARM64_LIB         the arm64 library (build/linux-arm64/libkeepalive.so)
//	KEEPALIVE_ARM64_CMD         the arm64 command (build/linux-arm64/keepalive)
//	KEEPALIVE_ARM64_DEBS        instead of these two, the arm64 packages of
//	                            make dist (libkeepalive1_*_arm64.deb and
//	                            keepalive_*_arm64.deb, space-separated),
//	                            unpacked into the guest with dpkg-deb -x
//	KEEPALIVE_GUESTS            the cache; scripts/guest-arm64 makes GUESTS/arm64
//	KEEPALIVE_GUEST_TIMEOUT     the bound of the boot (8m)
//
// The guest prints one console line per check (KA-RESULT, NAME, VERDICT,
// DETAIL, tab-separated); each becomes a subtest arm64/NAME.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libkeepalive/libkeepalive/test/internal/probebuild"
)

func TestArm64Guest(t *testing.T) {
	if os.Getenv("KEEPALIVE_ARM64_GUEST") != "1" {
		t.Skip("SKIPPED LOUDLY: the arm64 guest runs under `make test-arm64-guest` (KEEPALIVE_ARM64_GUEST=1)")
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-system-aarch64 is missing (apt-get install qemu-system-arm; scripts/deps arm64-guest): no arm64 guest was booted")
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		t.Skip("SKIPPED LOUDLY: aarch64-linux-gnu-gcc is missing (scripts/deps cross): no arm64 guest was booted")
	}
	total := time.Now()
	lib, _ := filepath.Abs(env("KEEPALIVE_ARM64_LIB", "../../build/linux-arm64/libkeepalive.so"))
	cmd, _ := filepath.Abs(env("KEEPALIVE_ARM64_CMD", "../../build/linux-arm64/keepalive"))
	var debs []string
	for _, pattern := range strings.Fields(os.Getenv("KEEPALIVE_ARM64_DEBS")) {
		found, _ := filepath.Glob(pattern)
		if len(found) != 1 {
			t.Fatalf("want one package for %s (KEEPALIVE_ARM64_DEBS, from make dist), found %v", pattern, found)
		}
		debs = append(debs, found[0])
	}
	build := "make cross: " + lib + " and " + cmd
	if debs != nil {
		build = "the packages " + strings.Join(debs, " ")
	} else {
		for _, f := range []string{lib, cmd} {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("the arm64 build (make cross): %v", err)
			}
		}
	}
	t.Logf("arm64: the build under test: %s", build)
	guests, _ := filepath.Abs(env("KEEPALIVE_GUESTS", "../../build/guests"))
	dir := filepath.Join(guests, "arm64")
	timeout, err := time.ParseDuration(env("KEEPALIVE_GUEST_TIMEOUT", "8m"))
	if err != nil {
		t.Fatal(err)
	}

	// The kernel, busybox and libc (downloaded once, cached).
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	out, err := exec.CommandContext(ctx, "../../scripts/guest-arm64", dir).CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("scripts/guest-arm64 %s: %v\n%s", dir, err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Log(s)
	}
	fetched := time.Since(start)

	// The root: the unpacked packages, the arm64 build, the static probe,
	// the C drivers and /init.
	start = time.Now()
	work := filepath.Join(dir, "run")
	os.RemoveAll(work)
	root := filepath.Join(work, "root")
	bin := filepath.Join(root, "usr", "local", "bin")
	libdir := filepath.Join(root, "usr", "lib", "aarch64-linux-gnu")
	steps := [][]string{
		{"mkdir", "-p", work},
		{"cp", "-a", filepath.Join(dir, "root"), root},
		{"mkdir", "-p", bin, libdir, filepath.Join(root, "usr", "bin")},
		{"cp", "guest/arm64-init.sh", filepath.Join(root, "init")},
		{"chmod", "755", filepath.Join(root, "init")},
	}
	if debs != nil {
		// As the packages install them: the library as
		// /usr/lib/aarch64-linux-gnu/libkeepalive.so.1 with the preload
		// name beside it, the command, the examples.
		for _, d := range debs {
			steps = append(steps, []string{"dpkg-deb", "-x", d, root})
		}
	} else {
		// Where the packages put them, so the command finds the library.
		steps = append(steps, []string{"cp", lib, filepath.Join(libdir, "libkeepalive.so")},
			[]string{"cp", cmd, filepath.Join(root, "usr", "bin", "keepalive")})
	}
	for _, c := range steps {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	if err := probebuild.Static(filepath.Join(bin, "probe"), "arm64"); err != nil {
		t.Fatal(err)
	}
	// Dynamic C drivers, linked against the cross toolchain's glibc (2.36,
	// as Debian 12's libc6 in the guest).
	for _, d := range []string{"sockets", "accept"} {
		cc := exec.Command("aarch64-linux-gnu-gcc", "-O1", "-Wall", "-Werror", "-o", filepath.Join(bin, d),
			filepath.Join("..", "c", d+".c"), "-lpthread")
		if out, err := cc.CombinedOutput(); err != nil {
			t.Fatalf("aarch64-linux-gnu-gcc %s.c: %v\n%s", d, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "ka-build"), []byte(build+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := writeCpio(root, initrd); err != nil {
		t.Fatalf("the initramfs: %v", err)
	}
	built := time.Since(start)
	st, _ := os.Stat(initrd)
	t.Logf("arm64: packages ready after %.1f s; root and initramfs (%d MB, uncompressed) built in %.1f s", fetched.Seconds(),
		st.Size()>>20, built.Seconds())

	// The boot.
	console := filepath.Join(work, "console.txt")
	cf, err := os.Create(console)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	q := exec.CommandContext(ctx, "qemu-system-aarch64", "-M", "virt", "-cpu", "max", "-accel", "tcg,thread=multi",
		"-m", "1G", "-smp", "2", "-nographic", "-no-reboot", "-nic", "none",
		"-kernel", filepath.Join(dir, "Image"), "-initrd", initrd,
		"-append", "console=ttyAMA0 panic=-1 quiet")
	pr, pw := io.Pipe()
	q.Stdout, q.Stderr = pw, pw
	type line struct{ name, verdict, detail string }
	var results []line
	var firstCheck time.Duration
	finished := false
	boot := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			text := strings.TrimRight(sc.Text(), "\r")
			fmt.Fprintf(cf, "%7.2f %s\n", time.Since(boot).Seconds(), text)
			i := strings.Index(text, "KA-RESULT\t")
			if i < 0 {
				continue
			}
			if firstCheck == 0 {
				firstCheck = time.Since(boot)
			}
			f := strings.SplitN(text[i+len("KA-RESULT\t"):], "\t", 3)
			if len(f) < 3 {
				results = append(results, line{"malformed", "fail", fmt.Sprintf("a result line that is not NAME<TAB>VERDICT<TAB>DETAIL: %q", text)})
				continue
			}
			if f[0] == "done" {
				finished = true
				continue
			}
			results = append(results, line{f[0], f[1], f[2]})
		}
		io.Copy(io.Discard, pr)
	}()
	runErr := q.Run()
	pw.Close()
	<-done
	took := time.Since(boot)
	t.Logf("arm64 (TCG): boot to the first check %.1f s, whole boot %.1f s; %.1f s in all; console: %s",
		firstCheck.Seconds(), took.Seconds(), time.Since(total).Seconds(), console)
	if ctx.Err() != nil {
		t.Errorf("arm64: the guest did not power off within %v: killed. Console's tail:\n%s", timeout, tail(console, 40))
	} else if runErr != nil {
		t.Errorf("arm64: qemu: %v. Console's tail:\n%s", runErr, tail(console, 40))
	}
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			switch r.verdict {
			case "pass", "info":
				t.Log(r.detail)
			case "skip":
				t.Skip(r.detail)
			default:
				t.Error(r.detail)
			}
		})
	}
	if len(results) == 0 {
		t.Errorf("arm64: no results from the guest. Console's tail:\n%s", tail(console, 40))
	} else if !finished && ctx.Err() == nil {
		t.Errorf("arm64: the guest's checks stopped before the end. Console's tail:\n%s", tail(console, 40))
	}
}

// writeCpio writes the tree at root as an uncompressed newc cpio archive,
// every file owned by root, with /dev/console (the kernel opens it for PID
// 1 before any devtmpfs is mounted) added: no root, cpio or mknod needed.
func writeCpio(root, path string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	ino := 1
	var n int64
	entry := func(name string, mode uint32, rmajor, rminor int, data []byte) error {
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
		ino++
		var b bytes.Buffer
		b.WriteString(hdr)
		b.WriteString(name)
		b.WriteByte(0)
		for (int64(b.Len())+n)%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for (int64(b.Len())+n)%4 != 0 {
			b.WriteByte(0)
		}
		m, err := w.Write(b.Bytes())
		n += int64(m)
		return err
	}
	const (
		sIFDIR = 0o040000
		sIFREG = 0o100000
		sIFLNK = 0o120000
		sIFCHR = 0o020000
	)
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		perm := uint32(fi.Mode().Perm())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			err = entry(rel, sIFLNK|0o777, 0, 0, []byte(target))
			if err != nil {
				return err
			}
		case fi.IsDir():
			if err := entry(rel, sIFDIR|perm, 0, 0, nil); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := entry(rel, sIFREG|perm, 0, 0, data); err != nil {
				return err
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "dev")); err != nil {
		if err := entry("dev", sIFDIR|0o755, 0, 0, nil); err != nil {
			return err
		}
	}
	if err := entry("dev/console", sIFCHR|0o600, 5, 1, nil); err != nil {
		return err
	}
	if err := entry("TRAILER!!!", 0, 0, 0, nil); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
