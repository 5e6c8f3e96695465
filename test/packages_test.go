package test

// The release artifacts of make dist (tarballs, .deb, .rpm) and make deb.

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The release artifacts of `make dist` (KEEPALIVE_DIST): one of each, for
// the right machine, holding every file, naming where the library will be,
// and refusing a glibc below the floor.
func TestDist(t *testing.T) {
	dist := portableEnv(t, "KEEPALIVE_DIST", "the release artifacts")
	one := func(t *testing.T, pattern string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dist, pattern))
		if len(m) != 1 {
			t.Fatalf("%s in %s: %d files %v, want exactly one", pattern, dist, len(m), m)
		}
		return m[0]
	}
	type build struct {
		name    string
		machine elf.Machine
		musl    bool
	}
	builds := map[string]build{
		"amd64":      {"linux-amd64", elf.EM_X86_64, false},
		"arm64":      {"linux-arm64", elf.EM_AARCH64, false},
		"amd64-musl": {"linux-amd64-musl", elf.EM_X86_64, true},
	}
	libSums := map[string]string{} // by Debian architecture, from the .deb
	for _, arch := range []string{"amd64", "arm64", "amd64-musl"} {
		b := builds[arch]
		t.Run(b.name+".tar.gz", func(t *testing.T) {
			dir := untar(t, one(t, "*"+b.name+".tar.gz"))
			checkTree(t, dir, "/usr/local", b.machine, b.musl)
			for _, f := range []string{"README.md", "LICENSE"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch+".deb", func(t *testing.T) {
			deb := one(t, "*_"+arch+".deb")
			fields := output(t, "dpkg-deb", "-f", deb, "Package", "Architecture", "Depends")
			want := fmt.Sprintf("Package: libkeepalive\nArchitecture: %s\nDepends: libc6 (>= 2.17)\n", arch)
			if fields != want {
				t.Errorf("%s control fields:\n%s\nwant\n%s", deb, fields, want)
			}
			root := t.TempDir()
			output(t, "dpkg-deb", "-x", deb, root)
			checkTree(t, filepath.Join(root, "usr"), "/usr", builds[arch].machine, false)
			libSums[arch] = sum(t, filepath.Join(root, "usr/lib/libkeepalive.so"))
			// Refused below the floor: the control is the same install
			// on a system whose libc6 is exactly the floor.
			for _, libc := range []string{"2.16-1", "2.17-1"} {
				status, out := dpkgInstall(t, deb, arch, libc)
				installed := strings.Contains(status, "Status: install ok installed")
				if installed != (libc == "2.17-1") {
					t.Errorf("dpkg -i %s with libc6 %s: installed=%v\n%s\n%s", filepath.Base(deb), libc, installed, status, out)
				}
			}
		})
		t.Run(arch+".rpm", func(t *testing.T) {
			rpm := one(t, "*."+rpmArch[arch]+".rpm")
			if got := output(t, "rpm", "-qp", "--qf", "%{NAME} %{ARCH} %{OS}", rpm); got != "libkeepalive "+rpmArch[arch]+" linux" {
				t.Errorf("%s: %q", rpm, got)
			}
			if req := output(t, "rpm", "-qpR", rpm); !strings.Contains(req, "glibc >= 2.17\n") {
				t.Errorf("%s requires:\n%s\nwant glibc >= 2.17", rpm, req)
			}
			// Each file's digest: the library must be the .deb's of the
			// same architecture.
			files := map[string]string{}
			for _, l := range strings.Split(output(t, "rpm", "-qp", "--dump", rpm), "\n") {
				if f := strings.Fields(l); len(f) > 3 {
					files[f[0]] = f[3]
				}
			}
			for _, f := range installedFiles(t, "/usr", true, true) {
				if _, ok := files[f]; !ok {
					t.Errorf("%s lacks %s (has %v)", rpm, f, files)
				}
			}
			if libSums[arch] != "" && files["/usr/lib/libkeepalive.so"] != libSums[arch] {
				t.Errorf("%s: /usr/lib/libkeepalive.so is not the %s build (sha256 %s, the .deb's %s)", rpm, arch, files["/usr/lib/libkeepalive.so"], libSums[arch])
			}
			for _, libc := range []string{"2.16", "2.17"} {
				out, err := rpmInstall(t, rpm, libc)
				if (err == nil) != (libc == "2.17") || libc == "2.16" && !strings.Contains(out, "glibc >= 2.17 is needed") {
					t.Errorf("rpm -i --test %s with glibc %s: %v\n%s", filepath.Base(rpm), libc, err, out)
				}
			}
		})
	}
}

// checkTree checks an unpacked artifact whose files will live under prefix:
// every file there, binaries for the machine, the glibc floor, and the man
// page and the systemd example naming prefix/lib/libkeepalive.so.
func checkTree(t *testing.T, dir, prefix string, machine elf.Machine, musl bool) {
	t.Helper()
	gz := prefix == "/usr"
	for _, f := range installedFiles(t, "", true, gz) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	for _, f := range []string{"lib/libkeepalive.so", "bin/keepalive"} {
		e, err := elf.Open(filepath.Join(dir, f))
		if err != nil {
			t.Error(err)
			continue
		}
		if e.Machine != machine {
			t.Errorf("%s is for %v, want %v", f, e.Machine, machine)
		}
		libs, _ := e.ImportedLibraries()
		e.Close()
		if f != "lib/libkeepalive.so" {
			continue
		}
		libc := "libc.so.6"
		if musl {
			libc = "libc.so"
		}
		if len(libs) == 0 || libs[len(libs)-1] != libc && !strings.Contains(" "+strings.Join(libs, " ")+" ", " "+libc+" ") {
			t.Errorf("%s needs %v, want %s", f, libs, libc)
		}
		if !musl {
			if bad, err := tooNew(filepath.Join(dir, f)); err != nil || len(bad) > 0 {
				t.Errorf("%s needs %v (%v)", f, bad, err)
			}
		}
	}
	path := prefix + "/lib/libkeepalive.so"
	man := output(t, "sh", "-c", "zcat -f "+filepath.Join(dir, "share/man/man8/libkeepalive.8*"))
	systemd, _ := os.ReadFile(filepath.Join(dir, "share/libkeepalive/systemd-keepalive.conf"))
	if !strings.Contains(man, path) || !strings.Contains(string(systemd), "LD_PRELOAD="+path) {
		t.Errorf("the man page or the systemd example does not name %s", path)
	}
	for _, other := range []string{"/usr/local/lib/libkeepalive.so", "/usr/lib/libkeepalive.so", "@LIBDIR@"} {
		if other != path && (strings.Contains(man, other) || strings.Contains(string(systemd), other)) {
			t.Errorf("the man page or the systemd example names %s, but the library will be at %s", other, path)
		}
	}
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func sum(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// untar unpacks a tarball that must hold exactly one top directory and
// returns that directory.
func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tops := map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			t.Fatalf("%s: entry %q outside its directory", path, h.Name)
		}
		tops[strings.Split(name, "/")[0]] = true
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(target), 0o755)
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(out, tr)
			out.Close()
		default:
			t.Errorf("%s: %s is of type %c, want files and directories only", path, h.Name, h.Typeflag)
		}
	}
	if len(tops) != 1 {
		t.Fatalf("%s: top-level entries %v, want one directory", path, tops)
	}
	for top := range tops {
		return filepath.Join(dir, top)
	}
	return ""
}

// dpkgInstall installs deb into an empty root whose dpkg database holds only
// libc6 at version libc; returns the package's status and dpkg's output.
func dpkgInstall(t *testing.T, deb, arch, libc string) (status, out string) {
	t.Helper()
	root := t.TempDir()
	db := filepath.Join(root, "var/lib/dpkg")
	for _, d := range []string{"updates", "info", "triggers"} {
		os.MkdirAll(filepath.Join(db, d), 0o755)
	}
	os.WriteFile(filepath.Join(db, "available"), nil, 0o644)
	os.WriteFile(filepath.Join(db, "info/libc6.list"), nil, 0o644)
	os.WriteFile(filepath.Join(db, "status"), []byte(fmt.Sprintf("Package: libc6\nStatus: install ok installed\n"+
		"Version: %s\nArchitecture: %s\nMulti-Arch: same\nMaintainer: test\nDescription: stand-in\n\n", libc, arch)), 0o644)
	if b, err := exec.Command("dpkg", "--root="+root, "--add-architecture", arch).CombinedOutput(); err != nil {
		t.Fatalf("dpkg --add-architecture %s: %v %s", arch, err, b)
	}
	b, _ := exec.Command("dpkg", "--root="+root, "--force-not-root", "-i", deb).CombinedOutput()
	s, _ := exec.Command("dpkg", "--root="+root, "-s", "libkeepalive").CombinedOutput()
	return string(s), string(b)
}

// rpmInstall tries (--test) rpm against a database holding only a stand-in
// glibc package of version libc.
func rpmInstall(t *testing.T, rpm, libc string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "glibc.spec")
	os.WriteFile(spec, []byte("Name: glibc\nVersion: "+libc+"\nRelease: 1\nSummary: stand-in\nLicense: MIT\n"+
		"BuildArch: noarch\n%description\nstand-in\n%files\n"), 0o644)
	output(t, "rpmbuild", "--quiet", "-bb", "--define", "_topdir "+dir+"/top", "--define", "_rpmdir "+dir+"/out", spec)
	db := filepath.Join(dir, "db")
	output(t, "rpm", "--dbpath", db, "--initdb")
	glibc, _ := filepath.Glob(filepath.Join(dir, "out/noarch/glibc-*.rpm"))
	if len(glibc) != 1 {
		t.Fatalf("stand-in glibc package: %v", glibc)
	}
	output(t, "rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", glibc[0])
	out, err := exec.Command("rpm", "--dbpath", db, "-i", "--test", "--ignorearch", "--ignoreos", rpm).CombinedOutput()
	return string(out), err
}

// makeDeb runs make deb and returns the one package it leaves in build/.
func makeDeb(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("make", "-C", "..", "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob("../build/libkeepalive_*.deb")
	if len(debs) != 1 {
		t.Fatalf("want one .deb in build/, have %v", debs)
	}
	return debs[0]
}

func TestDebianPackage(t *testing.T) {
	need(t, "dpkg-deb")
	deb := makeDeb(t)
	contents, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := installedFiles(t, "./usr", true, true)
	for _, f := range want {
		if !strings.Contains(string(contents), f+"\n") {
			t.Errorf("the package lacks %s:\n%s", f, contents)
		}
	}
	// And nothing the list does not name.
	for _, l := range strings.Split(string(contents), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") && !slices.Contains(want, f[len(f)-1]) {
			t.Errorf("the package holds %s, which the Makefile's list of installed files does not name", f[len(f)-1])
		}
	}
	info, _ := exec.Command("dpkg-deb", "--field", deb, "Package", "Architecture").Output()
	if !strings.Contains(string(info), "Package: libkeepalive") {
		t.Errorf("control: %s", info)
	}
	t.Logf("%s:\n%s", deb, contents)
}
