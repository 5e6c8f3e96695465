package test

// The i386 build in real 32-bit Debian 11 programs: a bullseye i386 root
// (KEEPALIVE_BULLSEYE_I386), whose programs this machine runs natively
// (IA32 emulation), with 32-bit C drivers built against the i386 sysroot;
// and the one preload line, /usr/$LIB/libkeepalive.so, serving a 64-bit and
// a 32-bit program on one system.

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// i386Platform runs the drivers inside the bullseye i386 root, each run in
// a mount namespace of its own (for /proc) that ends with it. The driver is
// the process started (sh and chroot exec it), so signals reach it.
func i386Platform(t *testing.T) (platform, bullseye) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the i386 cases chroot into a Debian 11 i386 root, which needs root")
	}
	root := portableEnv(t, "KEEPALIVE_BULLSEYE_I386", "the i386 library in 32-bit Debian 11 programs")
	sysroot := portableEnv(t, "KEEPALIVE_SYSROOT", "the i386 library in 32-bit Debian 11 programs")
	lib := portableEnv(t, "KEEPALIVE_LIB_I386", "the i386 library")
	if _, err := exec.LookPath("i686-linux-gnu-gcc"); err != nil {
		t.Fatal("i686-linux-gnu-gcc is missing: `make test` installs it (scripts/deps cross)")
	}
	if v, err := os.ReadFile(filepath.Join(root, "etc/debian_version")); err != nil || !strings.HasPrefix(string(v), "11.") {
		t.Fatalf("%s is not a Debian 11 root: etc/debian_version %q, %v", root, v, err)
	}
	if f, err := elf.Open(filepath.Join(root, "bin/true")); err != nil || f.Class != elf.ELFCLASS32 {
		t.Fatalf("%s/bin/true is not a 32-bit program (%v)", root, err)
	}
	copies, err := os.MkdirTemp(filepath.Join(root, "tmp"), "libkeepalive-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(copies) })
	os.Chmod(copies, 0o755)
	b := bullseye{root: root, dir: "/tmp/" + filepath.Base(copies)}
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copies, "libkeepalive.so"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	p := platform{name: "i386", cc: sysrootCC(sysroot, "i386"), dir: copies, lib: b.dir + "/libkeepalive.so"}
	p.start = func(ctx context.Context, preload bool, env []string, args ...string) *exec.Cmd {
		all := []string{"--mount", "--propagation", "private", "sh", "-c", `mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`,
			root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		if preload {
			all = append(all, "LD_PRELOAD="+p.lib)
		}
		all = append(append(append(all, env...), b.dir+"/"+args[0]), args[1:]...)
		return exec.CommandContext(ctx, "unshare", all...)
	}
	return p, b
}

func TestI386(t *testing.T) {
	p, b := i386Platform(t)
	// The drivers are 32-bit, or the cases prove nothing about i386.
	t.Run("drivers", func(t *testing.T) {
		compile(t, p.cc, "-o", filepath.Join(p.dir, "probe-class"), "c/sockets.c")
		f, err := elf.Open(filepath.Join(p.dir, "probe-class"))
		if err != nil || f.Class != elf.ELFCLASS32 || f.Machine != elf.EM_386 {
			t.Fatalf("a driver built by %v is not a 32-bit i386 program (%v)", p.cc, err)
		}
		f.Close()
	})
	testPlatform(t, p)

	ka := p.lib
	const badLine = `libkeepalive: KEEPCNT="abc"`
	t.Run("true", func(t *testing.T) {
		b.binTrue(t, ka, badLine)
		// The control of the 64-bit library: the loader refuses it
		// here, which is what the i386 build is for.
		data, _ := os.ReadFile(lib)
		os.WriteFile(filepath.Join(p.dir, "libkeepalive64.so"), data, 0o755)
		if r := b.run(t, b.dir+"/libkeepalive64.so", nil, "/bin/true"); !strings.Contains(r.stderr, "wrong ELF class") {
			t.Errorf("control: the 64-bit library in a 32-bit program, want wrong ELF class:\n%s", r)
		}
	})
	t.Run("python3", func(t *testing.T) { b.python3(t, ka, badLine) })
}

// The i386 packages on Debian 11 i386, and the one line for both
// architectures: on a Debian 11 amd64 system with libkeepalive1:amd64 and
// libkeepalive1:i386 installed side by side, LD_PRELOAD=/usr/$LIB/... gives
// keepalive to a 64-bit and a 32-bit program alike. The control: with only
// the amd64 library, the 32-bit program runs on without keepalive and the
// loader says the line cannot be preloaded.
func TestI386Packages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the i386 package cases mount an overlay and chroot, which needs root")
	}
	root32 := portableEnv(t, "KEEPALIVE_BULLSEYE_I386", "the i386 packages on Debian 11")
	root64 := portableEnv(t, "KEEPALIVE_BULLSEYE", "the i386 packages on Debian 11")
	dist := portableEnv(t, "KEEPALIVE_DIST", "the i386 packages")
	sysroot := portableEnv(t, "KEEPALIVE_SYSROOT", "the i386 packages")

	t.Run("i386", func(t *testing.T) {
		s := newScratch(t, root32)
		cmd := s.put(t, distFile(t, dist, "keepalive_*_i386.deb"), "keepalive.deb", 0o644)
		libpkg := s.put(t, distFile(t, dist, "libkeepalive1_*_i386.deb"), "libkeepalive1.deb", 0o644)
		if got, _ := s.probe(t, libLine); got != "0 7200" {
			t.Fatalf("control: nothing installed, LD_PRELOAD=%s: %q", libLine, got)
		}
		s.sh(t, "dpkg -i "+cmd+" "+libpkg)
		for _, l := range []string{libLine, oldLine} {
			if got, stderr := s.probe(t, l); got != "1 61" || stderr != "" {
				t.Errorf("32-bit python3, the i386 packages, LD_PRELOAD=%s: %q %q", l, got, stderr)
			}
		}
		r := s.run(t, []string{"KEEPIDLE=61"}, "/usr/bin/keepalive", "--", "python3", "-c", pyProbe)
		if !strings.HasPrefix(r.stdout, "1 61 ") || !strings.Contains(r.stdout, libLine) {
			t.Errorf("the i386 command: want keepalive with idle 61 and LD_PRELOAD=%s:\n%s", libLine, r)
		}
	})

	t.Run("one-line", func(t *testing.T) {
		s := newScratch(t, root64)
		for _, a := range []string{"amd64", "i386"} {
			drv := filepath.Join(t.TempDir(), "sockets")
			compile(t, sysrootCC(sysroot, a), "-o", drv, "c/sockets.c")
			s.put(t, drv, "sockets-"+a, 0o755)
		}
		lib64 := s.put(t, distFile(t, dist, "libkeepalive1_*_amd64.deb"), "lib64.deb", 0o644)
		lib32 := s.put(t, distFile(t, dist, "libkeepalive1_*_i386.deb"), "lib32.deb", 0o644)
		// i386's libc from the i386 root, registered as bullseye's own
		// libc6:i386 would be (its files, without its package).
		if r := s.host(t, `cp -a "`+root32+`/lib/ld-linux.so.2" "$R/lib/" && cp -a "`+root32+`/lib/i386-linux-gnu" "$R/lib/"`); r.status != 0 {
			t.Fatalf("i386 libc into the amd64 system:\n%s", r)
		}
		s.sh(t, "dpkg --add-architecture i386 && dpkg -i "+lib64)
		both := func(t *testing.T) (r64, r32 result) {
			r64 = s.run(t, append([]string{"LD_PRELOAD=" + libLine}, tuned...), "/tmp/pkgs/sockets-amd64")
			r32 = s.run(t, append([]string{"LD_PRELOAD=" + libLine}, tuned...), "/tmp/pkgs/sockets-i386")
			passed(t, "64-bit sockets", r64)
			passed(t, "32-bit sockets", r32)
			return
		}
		r64, r32 := both(t)
		wantTuned(t, "control: 64-bit, amd64 library only", line(r64.stdout, "inet_stream"), "3000")
		if got := line(r32.stdout, "inet_stream"); got["ka"] != "0" || !strings.Contains(r32.stderr, "cannot be preloaded") {
			t.Fatalf("control: 32-bit with the amd64 library only: want keepalive off and the loader's line, got %v\n%s", got, r32)
		}
		// libkeepalive1:i386 beside :amd64 (its libc6:i386 is the files
		// copied above, unknown to dpkg: --force-depends).
		s.sh(t, "dpkg -i --force-depends "+lib32+" && dpkg-query -W -f '${Package}:${Architecture} ${db:Status-Status}\\n' libkeepalive1")
		r64, r32 = both(t)
		wantTuned(t, "64-bit, both libraries", line(r64.stdout, "inet_stream"), "3000")
		wantTuned(t, "32-bit, both libraries", line(r32.stdout, "inet_stream"), "3000")
		if r64.stderr != "" || r32.stderr != "" {
			t.Errorf("one line, both libraries: the loader complains:\n%s\n%s", r64, r32)
		}
	})
}
