package test

// The packages on a real Debian 11 system (the cached bullseye root, under
// a throwaway overlay): upgrading from release 1.0.0 with dpkg and with
// rpm -U keeps LD_PRELOAD=/usr/lib/libkeepalive.so working, removing the
// packages leaves /etc/ld.so.preload naming no missing file, and setuid
// programs see the preload line the man page gives them.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// release100 is the commit of release 1.0.0, whose scripts/package makes
// the old packages.
const release100 = "ed1ba80"

// scratch is a throwaway Debian 11 system: an overlay on the cached root,
// mounted afresh in each run's own mount namespace, so that the runs share
// their changes and nothing reaches the cache.
type scratch struct {
	lower, upper, work, merged string
}

func newScratch(t *testing.T, lower string) scratch {
	d := t.TempDir()
	s := scratch{lower, filepath.Join(d, "upper"), filepath.Join(d, "work"), filepath.Join(d, "merged")}
	for _, dir := range []string{s.upper, s.work, s.merged, filepath.Join(s.upper, "tmp/pkgs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// put copies a file of this machine into the system's /tmp/pkgs.
func (s scratch) put(t *testing.T, src, name string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.upper, "tmp/pkgs", name), data, mode); err != nil {
		t.Fatal(err)
	}
	return "/tmp/pkgs/" + name
}

// host runs a shell script on this machine with the system mounted at $R
// (for rpm --root, which chroots for the packages' scripts itself).
func (s scratch) host(t *testing.T, script string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && mount -t proc proc "$4/proc" && R=$4 && shift 4 && eval "$1"`,
		"sh", s.lower, s.upper, s.work, s.merged, script)
	return finish(t, cmd, ctx)
}

// run runs a program inside the system, with only PATH, LANG and env.
func (s scratch) run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	all := []string{"--mount", "--propagation", "private", "sh", "-c",
		`mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && mount -t proc proc "$4/proc" && r=$4 && shift 4 && exec chroot "$r" "$@"`,
		"sh", s.lower, s.upper, s.work, s.merged, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	return finish(t, exec.CommandContext(ctx, "unshare", append(append(all, env...), args...)...), ctx)
}

// sh runs a shell command inside the system and insists on its success.
func (s scratch) sh(t *testing.T, script string) string {
	t.Helper()
	r := s.run(t, nil, "sh", "-c", script)
	if r.status != 0 {
		t.Fatalf("%s:\n%s", script, r)
	}
	return r.stdout
}

// probe: python3's socket under LD_PRELOAD=preload (none if empty) and
// KEEPIDLE=61; "1 61" when the library configured it.
func (s scratch) probe(t *testing.T, preload string) (got, stderr string) {
	t.Helper()
	env := []string{"KEEPIDLE=61"}
	if preload != "" {
		env = append(env, "LD_PRELOAD="+preload)
	}
	r := s.run(t, env, "python3", "-c", "import socket\ns = socket.socket()\n"+
		"print(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))")
	if r.status != 0 {
		t.Fatalf("python3 under %q:\n%s", preload, r)
	}
	return strings.TrimSpace(r.stdout), r.stderr
}

// oldPackage makes release 1.0.0's package of this build's files with
// 1.0.0's own scripts/package (from git): its layout and its name.
func oldPackage(t *testing.T, format string) string {
	t.Helper()
	script, err := exec.Command("git", "-C", "..", "show", release100+":scripts/package").Output()
	if err != nil {
		t.Fatalf("git show %s:scripts/package (release 1.0.0's packaging, to upgrade from): %v", release100, err)
	}
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	out := filepath.Join(dir, "out")
	for _, d := range []string{"usr/lib", "usr/bin", "usr/share/doc/libkeepalive"} {
		os.MkdirAll(filepath.Join(stage, d), 0o755)
	}
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(dir, "package"), script, 0o755)
	for src, dst := range map[string]string{lib: "usr/lib/libkeepalive.so", command: "usr/bin/keepalive", "../LICENSE": "usr/share/doc/libkeepalive/copyright"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(stage, dst), data, 0o755)
	}
	if b, err := exec.Command(filepath.Join(dir, "package"), format, "amd64", stage, out, "1.0.0").CombinedOutput(); err != nil {
		t.Fatalf("release 1.0.0's scripts/package %s: %v\n%s", format, err, b)
	}
	m, _ := filepath.Glob(filepath.Join(out, "libkeepalive*1.0.0*"))
	if len(m) != 1 {
		t.Fatalf("release 1.0.0's package: %v", m)
	}
	return m[0]
}

func upgradeEnv(t *testing.T) (root, dist string) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the upgrade cases mount an overlay and chroot, which needs root")
	}
	root = portableEnv(t, "KEEPALIVE_BULLSEYE", "the packages on Debian 11")
	dist = portableEnv(t, "KEEPALIVE_DIST", "the packages on Debian 11")
	return root, dist
}

func distFile(t *testing.T, dist, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dist, pattern))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v, want one", pattern, dist, m)
	}
	return m[0]
}

// The preload lines a host may hold, before and after each step.
const (
	oldLine = "/usr/lib/libkeepalive.so"
	libLine = "/usr/$LIB/libkeepalive.so"
)

// dpkg: 1.0.0's libkeepalive, then the new keepalive and libkeepalive1 over
// it, then each removed.
func TestUpgradeDeb(t *testing.T) {
	root, dist := upgradeEnv(t)
	s := newScratch(t, root)
	old := s.put(t, oldPackage(t, "deb"), "old.deb", 0o644)
	cmd := s.put(t, distFile(t, dist, "keepalive_*_amd64.deb"), "keepalive.deb", 0o644)
	libpkg := s.put(t, distFile(t, dist, "libkeepalive1_*_amd64.deb"), "libkeepalive1.deb", 0o644)

	// The control: before any package, the line loads nothing, and the
	// loader says so.
	if got, stderr := s.probe(t, oldLine); got != "0 7200" || !strings.Contains(stderr, "cannot be preloaded") {
		t.Fatalf("control: no package installed, LD_PRELOAD=%s: %q %q", oldLine, got, stderr)
	}
	s.sh(t, "dpkg -i "+old)
	if got, _ := s.probe(t, oldLine); got != "1 61" {
		t.Fatalf("release 1.0.0 installed, LD_PRELOAD=%s: %q, want 1 61", oldLine, got)
	}
	s.sh(t, "echo "+oldLine+" > /etc/ld.so.preload")

	t.Run("upgrade", func(t *testing.T) {
		out := s.sh(t, "dpkg -i "+cmd+" "+libpkg+" 2>&1; dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n' libkeepalive keepalive libkeepalive1 2>&1 || true")
		for _, want := range []string{"keepalive 1.1.0 installed", "libkeepalive1 1.1.0 installed"} {
			if !strings.Contains(out, want) {
				t.Errorf("dpkg -i keepalive libkeepalive1 over 1.0.0: want %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "libkeepalive 1.0.0 installed") {
			t.Errorf("1.0.0's libkeepalive is still installed:\n%s", out)
		}
		for _, line := range []string{oldLine, libLine} {
			if got, stderr := s.probe(t, line); got != "1 61" || stderr != "" {
				t.Errorf("after the upgrade, LD_PRELOAD=%s: %q %q, want 1 61 and nothing on stderr", line, got, stderr)
			}
		}
		if got, stderr := s.probe(t, ""); got != "1 61" || stderr != "" {
			t.Errorf("after the upgrade, /etc/ld.so.preload naming %s: %q %q", oldLine, got, stderr)
		}
		r := s.run(t, []string{"KEEPIDLE=61"}, "/usr/bin/keepalive", "--", "python3", "-c", pyProbe)
		if !strings.HasPrefix(r.stdout, "1 61 ") || !strings.Contains(r.stdout, libLine) {
			t.Errorf("the installed command: want keepalive with idle 61 and LD_PRELOAD=%s:\n%s", libLine, r)
		}
	})

	t.Run("remove", func(t *testing.T) {
		// Four entries: 1.0.0's path, the $LIB line, the bare name, and
		// another library (harmless to preload), which must stay.
		const other = "/lib/x86_64-linux-gnu/libdl.so.2"
		s.sh(t, "echo '"+libLine+" libkeepalive.so' >> /etc/ld.so.preload && echo "+other+" >> /etc/ld.so.preload")
		s.sh(t, "dpkg -r keepalive")
		preload := s.sh(t, "cat /etc/ld.so.preload")
		if want := libLine + "\nlibkeepalive.so\n" + other + "\n"; preload != want {
			t.Errorf("keepalive removed (and with it %s): /etc/ld.so.preload\n%s\nwant\n%s", oldLine, preload, want)
		}
		if got, stderr := s.probe(t, ""); got != "1 61" || stderr != "" {
			t.Errorf("keepalive removed, libkeepalive1 kept: %q %q", got, stderr)
		}
		s.sh(t, "dpkg -r libkeepalive1")
		if preload := s.sh(t, "cat /etc/ld.so.preload"); preload != other+"\n" {
			t.Errorf("both removed: /etc/ld.so.preload should hold only %s:\n%s", other, preload)
		}
		if r := s.run(t, nil, "/bin/true"); r.status != 0 || r.stderr != "" {
			t.Errorf("both removed: /bin/true:\n%s", r)
		}
		// The control: the entry left behind would be a complaint in
		// every process.
		s.sh(t, "echo "+oldLine+" > /etc/ld.so.preload")
		if r := s.run(t, nil, "/bin/true"); !strings.Contains(r.stderr, "cannot be preloaded") {
			t.Errorf("control: an entry for a missing library, and /bin/true says nothing:\n%s", r)
		}
	})
}

// rpm -U: 1.0.0's libkeepalive.x86_64, then keepalive and libkeepalive1 over
// it (rpm on this machine, --root the Debian 11 system, whose loader and
// shell run the packages' scripts), then removed.
func TestUpgradeRpm(t *testing.T) {
	root, dist := upgradeEnv(t)
	need(t, "rpm")
	s := newScratch(t, root)
	old := s.put(t, oldPackage(t, "rpm"), "old.rpm", 0o644)
	cmd := s.put(t, distFile(t, dist, "keepalive-*.x86_64.rpm"), "keepalive.rpm", 0o644)
	libpkg := s.put(t, distFile(t, dist, "libkeepalive1-*.x86_64.rpm"), "libkeepalive1.rpm", 0o644)
	// No glibc package in this database: --nodeps (TestDist checks the
	// requirement). The packages are at $R/tmp/pkgs for the machine's rpm.
	rpm := func(t *testing.T, args string) string {
		t.Helper()
		r := s.host(t, "rpm --root \"$R\" --nodeps "+args+" 2>&1")
		if r.status != 0 {
			t.Fatalf("rpm %s:\n%s", args, r)
		}
		return r.stdout
	}
	rpm(t, `-i "$R"`+old)
	if got, _ := s.probe(t, oldLine); got != "1 61" {
		t.Fatalf("release 1.0.0 installed, LD_PRELOAD=%s: %q, want 1 61", oldLine, got)
	}
	s.sh(t, "echo "+oldLine+" > /etc/ld.so.preload")
	t.Run("upgrade", func(t *testing.T) {
		rpm(t, `-U "$R"`+cmd+` "$R"`+libpkg)
		if q := s.host(t, `rpm --root "$R" -q libkeepalive keepalive libkeepalive1 2>&1`).stdout; !strings.Contains(q, "package libkeepalive is not installed") ||
			!strings.Contains(q, "keepalive-1.1.0-1.x86_64") || !strings.Contains(q, "libkeepalive1-1.1.0-1.x86_64") {
			t.Errorf("rpm -U over 1.0.0:\n%s", q)
		}
		if l := strings.TrimSpace(s.sh(t, "readlink /usr/lib/libkeepalive.so")); l != "../lib64/libkeepalive.so.1" {
			t.Errorf("/usr/lib/libkeepalive.so after rpm -U: a link to %q, want ../lib64/libkeepalive.so.1", l)
		}
		// Debian's loader reads $LIB as lib/x86_64-linux-gnu, so the
		// RPM layout is tried by its paths.
		for _, line := range []string{oldLine, "/usr/lib64/libkeepalive.so", ""} {
			if got, stderr := s.probe(t, line); got != "1 61" || stderr != "" {
				t.Errorf("after rpm -U, LD_PRELOAD=%q: %q %q, want 1 61 and nothing on stderr", line, got, stderr)
			}
		}
	})
	t.Run("remove", func(t *testing.T) {
		rpm(t, "-e keepalive libkeepalive1")
		if r := s.run(t, nil, "sh", "-c", "ls /usr/lib64; ls /usr/lib/libkeepalive.so 2>/dev/null; cat /etc/ld.so.preload"); strings.Contains(r.stdout, "libkeepalive") {
			t.Errorf("rpm -e: left behind:\n%s", r)
		}
		if r := s.run(t, nil, "/bin/true"); r.status != 0 || r.stderr != "" {
			t.Errorf("rpm -e: /bin/true:\n%s", r)
		}
	})
}

// setuid programs: what the loader does with each line, measured. The
// package's library in /usr/lib/x86_64-linux-gnu, a setuid-root copy of the
// sockets driver run as nobody; the control is the same driver without the
// setuid bit, which takes the $LIB line.
func TestSetuidPreload(t *testing.T) {
	root, dist := upgradeEnv(t)
	sysroot := portableEnv(t, "KEEPALIVE_SYSROOT", "setuid programs on Debian 11")
	s := newScratch(t, root)
	cmd := s.put(t, distFile(t, dist, "keepalive_*_amd64.deb"), "keepalive.deb", 0o644)
	libpkg := s.put(t, distFile(t, dist, "libkeepalive1_*_amd64.deb"), "libkeepalive1.deb", 0o644)
	s.sh(t, "dpkg -i "+cmd+" "+libpkg)
	drv := filepath.Join(t.TempDir(), "sockets")
	compile(t, sysrootCC(sysroot, "amd64"), "-o", drv, "c/sockets.c")
	s.put(t, drv, "sockets", 0o755)
	s.put(t, drv, "sockets-suid", 0o755)
	s.sh(t, "chown root:root /tmp/pkgs/sockets-suid && chmod 4755 /tmp/pkgs/sockets-suid")
	asNobody := func(t *testing.T, prog, preload string) map[string]string {
		t.Helper()
		r := s.run(t, append([]string{"LD_PRELOAD=" + preload}, tuned...), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", prog)
		passed(t, prog+" under "+preload, r)
		return line(r.stdout, "inet_stream")
	}
	wantTuned(t, "control: not setuid, "+libLine, asNobody(t, "/tmp/pkgs/sockets", libLine), "3000")
	for _, line := range []string{libLine, "/usr/lib/x86_64-linux-gnu/libkeepalive.so", "libkeepalive.so"} {
		if got := asNobody(t, "/tmp/pkgs/sockets-suid", line); got["ka"] != "0" {
			t.Errorf("setuid, the library not set-user-ID, LD_PRELOAD=%s: keepalive on (%v); the loader should ignore it", line, got)
		}
	}
	s.sh(t, "chmod u+s /usr/lib/x86_64-linux-gnu/libkeepalive.so.1")
	wantTuned(t, "setuid, the library set-user-ID, LD_PRELOAD=libkeepalive.so", asNobody(t, "/tmp/pkgs/sockets-suid", "libkeepalive.so"), "3000")
	for _, line := range []string{libLine, "/usr/lib/x86_64-linux-gnu/libkeepalive.so"} {
		if got := asNobody(t, "/tmp/pkgs/sockets-suid", line); got["ka"] != "0" {
			t.Errorf("setuid, the library set-user-ID, LD_PRELOAD=%s (a slash): keepalive on (%v); glibc ignores such entries in setuid programs", line, got)
		}
	}
}
