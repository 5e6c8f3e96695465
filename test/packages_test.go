package test

// The release artifacts of make dist (tarballs, .deb, .rpm) and make deb.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The release artifacts of `make dist` (KEEPALIVE_DIST): one of each, for
// the right machine, holding every file where its distribution keeps it,
// naming where the library will be, and refusing a glibc below the floor.
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
		triplet string // Debian's multiarch directory
		rpm     string // the RPM architecture, and its library directory
		rpmLib  string
	}
	builds := map[string]build{
		"amd64":      {"linux-amd64", elf.EM_X86_64, false, "x86_64-linux-gnu", "x86_64", "lib64"},
		"arm64":      {"linux-arm64", elf.EM_AARCH64, false, "aarch64-linux-gnu", "aarch64", "lib64"},
		"i386":       {"linux-i386", elf.EM_386, false, "i386-linux-gnu", "i686", "lib"},
		"amd64-musl": {"linux-amd64-musl", elf.EM_X86_64, true, "", "", ""},
	}
	libSums := map[string]string{} // by Debian architecture, from the .deb
	for _, arch := range []string{"amd64", "arm64", "i386", "amd64-musl"} {
		b := builds[arch]
		t.Run(b.name+".tar.gz", func(t *testing.T) {
			dir := untar(t, one(t, "*"+b.name+".tar.gz"))
			checkTree(t, dir, "/usr/local", "lib/libkeepalive.so", "/usr/local/lib/libkeepalive.so", b.machine, b.musl)
			for _, f := range []string{"README.md", "LICENSE"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, arch := range []string{"amd64", "arm64", "i386"} {
		b := builds[arch]
		t.Run(arch+".deb", func(t *testing.T) {
			lib := one(t, "libkeepalive1_*_"+arch+".deb")
			cmd := one(t, "keepalive_*_"+arch+".deb")
			fields := output(t, "dpkg-deb", "-f", lib, "Package", "Architecture", "Multi-Arch", "Depends")
			want := fmt.Sprintf("Package: libkeepalive1\nArchitecture: %s\nMulti-Arch: same\nDepends: libc6 (>= 2.17)\n", arch)
			if fields != want {
				t.Errorf("%s control fields:\n%s\nwant\n%s", lib, fields, want)
			}
			fields = output(t, "dpkg-deb", "-f", cmd, "Package", "Architecture", "Multi-Arch", "Depends", "Replaces", "Conflicts")
			want = fmt.Sprintf("Package: keepalive\nArchitecture: %s\nMulti-Arch: foreign\nDepends: libkeepalive1 (= %s)\n"+
				"Replaces: libkeepalive (<< 1.1.0)\nConflicts: libkeepalive (<< 1.1.0)\n", arch, version(t))
			if fields != want {
				t.Errorf("%s control fields:\n%s\nwant\n%s", cmd, fields, want)
			}
			root := t.TempDir()
			output(t, "dpkg-deb", "-x", lib, root)
			output(t, "dpkg-deb", "-x", cmd, root)
			real := "lib/" + b.triplet + "/libkeepalive.so.1"
			checkTree(t, filepath.Join(root, "usr"), "/usr", real, "/usr/$LIB/libkeepalive.so", b.machine, false)
			// The preload name beside the library, and 1.0.0's path.
			for link, target := range map[string]string{"usr/lib/" + b.triplet + "/libkeepalive.so": "libkeepalive.so.1",
				"usr/lib/libkeepalive.so": b.triplet + "/libkeepalive.so.1"} {
				if got, err := os.Readlink(filepath.Join(root, link)); err != nil || got != target {
					t.Errorf("%s: a link to %q, got %q (%v)", link, target, got, err)
				}
			}
			libSums[arch] = sum(t, filepath.Join(root, "usr", real))
			// Refused below the floor: the control is the same install
			// on a system whose libc6 is exactly the floor.
			for _, libc := range []string{"2.16-1", "2.17-1"} {
				status, out := dpkgInstall(t, []string{lib, cmd}, []string{arch}, libc)
				installed := strings.Count(status, "Status: install ok installed") == 2
				if installed != (libc == "2.17-1") {
					t.Errorf("dpkg -i %s with libc6 %s: installed=%v\n%s\n%s", filepath.Base(lib), libc, installed, status, out)
				}
			}
		})
		t.Run(arch+".rpm", func(t *testing.T) {
			lib := one(t, "libkeepalive1-*."+b.rpm+".rpm")
			cmd := one(t, "keepalive-*."+b.rpm+".rpm")
			for rpm, name := range map[string]string{lib: "libkeepalive1", cmd: "keepalive"} {
				if got := output(t, "rpm", "-qp", "--qf", "%{NAME} %{ARCH} %{OS}", rpm); got != name+" "+b.rpm+" linux" {
					t.Errorf("%s: %q", rpm, got)
				}
			}
			if req := output(t, "rpm", "-qpR", lib); !strings.Contains(req, "glibc >= 2.17\n") {
				t.Errorf("%s requires:\n%s\nwant glibc >= 2.17", lib, req)
			}
			if obs := output(t, "rpm", "-qp", "--obsoletes", cmd); !strings.Contains(obs, "libkeepalive < 1.1.0") {
				t.Errorf("%s obsoletes %q, want libkeepalive < 1.1.0 (release 1.0.0's package)", cmd, obs)
			}
			// Each file's digest: the library must be the .deb's of the
			// same architecture.
			files := map[string][]string{}
			for _, rpm := range []string{lib, cmd} {
				for _, l := range strings.Split(output(t, "rpm", "-qp", "--dump", rpm), "\n") {
					if f := strings.Fields(l); len(f) > 3 {
						files[f[0]] = f
					}
				}
			}
			real := "/usr/" + b.rpmLib + "/libkeepalive.so.1"
			for _, f := range installedFiles(t, "/usr", true, true) {
				if f == "/usr/lib/libkeepalive.so" {
					f = real
				}
				f = strings.Replace(f, "/doc/libkeepalive/", "/doc/keepalive/", 1)
				if _, ok := files[f]; !ok {
					t.Errorf("%s lacks %s (has %v)", b.rpm, f, files)
				}
			}
			if link := files["/usr/"+b.rpmLib+"/libkeepalive.so"]; len(link) < 11 || link[10] != "libkeepalive.so.1" {
				t.Errorf("%s: /usr/%s/libkeepalive.so is not a link to libkeepalive.so.1: %v", lib, b.rpmLib, link)
			}
			if libSums[arch] != "" && files[real][3] != libSums[arch] {
				t.Errorf("%s: %s is not the %s build (sha256 %s, the .deb's %s)", lib, real, arch, files[real][3], libSums[arch])
			}
			for _, libc := range []string{"2.16", "2.17"} {
				out, err := rpmInstall(t, []string{lib, cmd}, libc)
				if (err == nil) != (libc == "2.17") || libc == "2.16" && !strings.Contains(out, "glibc >= 2.17 is needed") {
					t.Errorf("rpm -i --test %s with glibc %s: %v\n%s", filepath.Base(lib), libc, err, out)
				}
			}
		})
	}
	// Multi-Arch: the amd64 and i386 libraries install side by side. The
	// control: the same check on the command's packages (Multi-Arch:
	// foreign, one architecture at a time) counts one, so it can fail.
	t.Run("multiarch", func(t *testing.T) {
		libs := []string{one(t, "libkeepalive1_*_amd64.deb"), one(t, "libkeepalive1_*_i386.deb")}
		status, out := dpkgInstall(t, libs, []string{"amd64", "i386"}, "2.31-1")
		if n := strings.Count(status, "Status: install ok installed"); n != 2 {
			t.Errorf("libkeepalive1:amd64 and :i386 together: %d installed, want 2\n%s\n%s", n, status, out)
		}
		cmds := []string{one(t, "keepalive_*_amd64.deb"), one(t, "keepalive_*_i386.deb")}
		status, out = dpkgInstall(t, append(libs, cmds...), []string{"amd64", "i386"}, "2.31-1")
		if n := strings.Count(status, "Status: install ok installed"); n != 3 {
			t.Errorf("control: both libraries and both commands: %d of the four installed, want 3 (one command)\n%s\n%s", n, status, out)
		}
	})
}

// version is the Makefile's VERSION.
func version(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VERSION := "); ok {
			return v
		}
	}
	t.Fatal("no VERSION := in the Makefile")
	return ""
}

// checkTree checks an unpacked artifact whose files will live under prefix:
// every file there (the library at real, under the prefix), binaries for
// the machine, the library's SONAME and glibc floor, and the man page and
// the systemd example naming the preload path.
func checkTree(t *testing.T, dir, prefix, real, preload string, machine elf.Machine, musl bool) {
	t.Helper()
	gz := prefix == "/usr"
	for _, f := range installedFiles(t, "", true, gz) {
		if prefix == "/usr" { // the packages: the command's package holds the docs
			f = strings.Replace(f, "share/doc/libkeepalive/", "share/doc/keepalive/", 1)
		}
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	for _, f := range []string{real, "bin/keepalive"} {
		e, err := elf.Open(filepath.Join(dir, f))
		if err != nil {
			t.Error(err)
			continue
		}
		if e.Machine != machine {
			t.Errorf("%s is for %v, want %v", f, e.Machine, machine)
		}
		libs, _ := e.ImportedLibraries()
		soname, _ := e.DynString(elf.DT_SONAME)
		e.Close()
		if f != real {
			continue
		}
		if len(soname) != 1 || soname[0] != "libkeepalive.so.1" {
			t.Errorf("%s: SONAME %v, want libkeepalive.so.1", f, soname)
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
	man := output(t, "sh", "-c", "zcat -f "+filepath.Join(dir, "share/man/man8/libkeepalive.8*"))
	systemd, _ := os.ReadFile(filepath.Join(dir, "share/libkeepalive/systemd-keepalive.conf"))
	if !strings.Contains(man, "LD_PRELOAD='"+preload+"'") || !strings.Contains(string(systemd), "LD_PRELOAD="+preload+"\n") {
		t.Errorf("the man page or the systemd example does not name %s", preload)
	}
	for _, other := range []string{"/usr/local/lib/libkeepalive.so", "/usr/lib/libkeepalive.so", "@LIBDIR@", "@PRELOAD@"} {
		if other != preload && (strings.Contains(man, other) || strings.Contains(string(systemd), other)) {
			t.Errorf("the man page or the systemd example names %s, but the line is %s", other, preload)
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

// dpkgInstall installs debs into an empty root whose dpkg database holds
// only libc6 at version libc, for each of arches; returns the status of
// each package (as PACKAGE:ARCH), and dpkg's output.
func dpkgInstall(t *testing.T, debs, arches []string, libc string) (status, out string) {
	t.Helper()
	root := t.TempDir()
	db := filepath.Join(root, "var/lib/dpkg")
	for _, d := range []string{"updates", "info", "triggers"} {
		os.MkdirAll(filepath.Join(db, d), 0o755)
	}
	os.WriteFile(filepath.Join(db, "available"), nil, 0o644)
	var st strings.Builder
	for _, arch := range arches {
		os.WriteFile(filepath.Join(db, "info/libc6:"+arch+".list"), nil, 0o644)
		fmt.Fprintf(&st, "Package: libc6\nStatus: install ok installed\nVersion: %s\nArchitecture: %s\nMulti-Arch: same\n"+
			"Maintainer: test\nDescription: stand-in\n\n", libc, arch)
	}
	os.WriteFile(filepath.Join(db, "status"), []byte(st.String()), 0o644)
	for _, arch := range arches {
		if b, err := exec.Command("dpkg", "--root="+root, "--add-architecture", arch).CombinedOutput(); err != nil {
			t.Fatalf("dpkg --add-architecture %s: %v %s", arch, err, b)
		}
	}
	// The packages' scripts run chrooted into root, which has no shell:
	// --force-script-chrootless runs them here, on an empty root.
	b, _ := exec.Command("dpkg", append([]string{"--root=" + root, "--force-not-root", "--force-script-chrootless", "-i"}, debs...)...).CombinedOutput()
	query := []string{"--root=" + root, "-s"}
	for _, deb := range debs {
		query = append(query, strings.ReplaceAll(output(t, "dpkg-deb", "--show", "--showformat", "${Package}:${Architecture}", deb), "\n", ""))
	}
	s, _ := exec.Command("dpkg", query...).CombinedOutput()
	return string(s), string(b)
}

// rpmInstall tries (--test) rpms against a database holding only a
// stand-in glibc package of version libc (which also provides the shell and
// ldconfig that the packages' scripts need).
func rpmInstall(t *testing.T, rpms []string, libc string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "glibc.spec")
	os.WriteFile(spec, []byte("Name: glibc\nVersion: "+libc+"\nRelease: 1\nSummary: stand-in\nLicense: MIT\n"+
		"BuildArch: noarch\nProvides: /bin/sh /sbin/ldconfig\n%description\nstand-in\n%files\n"), 0o644)
	output(t, "rpmbuild", "--quiet", "-bb", "--define", "_topdir "+dir+"/top", "--define", "_rpmdir "+dir+"/out", spec)
	db := filepath.Join(dir, "db")
	output(t, "rpm", "--dbpath", db, "--initdb")
	glibc, _ := filepath.Glob(filepath.Join(dir, "out/noarch/glibc-*.rpm"))
	if len(glibc) != 1 {
		t.Fatalf("stand-in glibc package: %v", glibc)
	}
	output(t, "rpm", "--dbpath", db, "-i", "--justdb", "--nodeps", glibc[0])
	out, err := exec.Command("rpm", append([]string{"--dbpath", db, "-i", "--test", "--ignorearch", "--ignoreos"}, rpms...)...).CombinedOutput()
	return string(out), err
}

// makeDeb runs make deb and returns the two packages it leaves in build/:
// libkeepalive1 and keepalive.
func makeDeb(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("make", "-C", "..", "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	var debs []string
	for _, name := range []string{"libkeepalive1", "keepalive"} {
		m, _ := filepath.Glob("../build/" + name + "_*.deb")
		if len(m) != 1 {
			t.Fatalf("want one %s_*.deb in build/, have %v", name, m)
		}
		debs = append(debs, m[0])
	}
	return debs
}

func TestDebianPackage(t *testing.T) {
	need(t, "dpkg-deb")
	var contents string
	for _, deb := range makeDeb(t) {
		out, err := exec.Command("dpkg-deb", "--contents", deb).Output()
		if err != nil {
			t.Fatal(err)
		}
		contents += string(out)
		t.Logf("%s:\n%s", deb, out)
	}
	// The one list, with the library where Debian keeps it and the doc
	// directory of the package that holds the command.
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	var want []string
	for _, f := range installedFiles(t, "./usr", true, true) {
		switch {
		case f == "./usr/lib/libkeepalive.so":
			f = "./usr/lib/" + triplet + "/libkeepalive.so.1"
		case strings.HasPrefix(f, "./usr/share/doc/libkeepalive/"):
			f = strings.Replace(f, "/libkeepalive/", "/keepalive/", 1)
		}
		want = append(want, f)
	}
	// And the packages' own files: changelogs, copyright, lintian overrides.
	want = append(want, "./usr/share/doc/keepalive/changelog.gz", "./usr/share/doc/libkeepalive1/changelog.gz",
		"./usr/share/doc/libkeepalive1/copyright", "./usr/share/lintian/overrides/keepalive", "./usr/share/lintian/overrides/libkeepalive1")
	for _, f := range want {
		if !strings.Contains(contents, f+"\n") {
			t.Errorf("the packages lack %s:\n%s", f, contents)
		}
	}
	// And nothing else.
	for _, l := range strings.Split(contents, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") && !slices.Contains(want, f[len(f)-1]) {
			t.Errorf("the packages hold %s, which the Makefile's list of installed files does not name", f[len(f)-1])
		}
	}
}

// apkSegment is one gzip stream of an .apk: its bytes, and its tar entries.
type apkSegment struct {
	raw   []byte
	files map[string]*tar.Header
	data  map[string][]byte
}

// readApk splits an .apk into its gzip streams (control, then data; apk
// checks the data stream against the control's datahash).
func readApk(t *testing.T, path string) []apkSegment {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(raw)
	var segs []apkSegment
	for r.Len() > 0 {
		start := len(raw) - r.Len()
		zr, err := gzip.NewReader(r) // a bytes.Reader: read exactly to each stream's end
		if err != nil {
			t.Fatalf("%s: stream %d: %v", path, len(segs), err)
		}
		zr.Multistream(false)
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: stream %d: %v", path, len(segs), err)
		}
		seg := apkSegment{raw: raw[start : len(raw)-r.Len()], files: map[string]*tar.Header{}, data: map[string][]byte{}}
		tr := tar.NewReader(bytes.NewReader(body))
		for {
			h, err := tr.Next()
			if err != nil {
				break // each stream but the last ends without the end-of-archive blocks
			}
			seg.files[h.Name] = h
			seg.data[h.Name], _ = io.ReadAll(tr)
		}
		segs = append(segs, seg)
	}
	return segs
}

// The .apk for Alpine: libkeepalive (the musl library in /usr/lib, where
// musl's loader takes the line as written, and the command) and
// libkeepalive-doc, each a control stream whose .PKGINFO is one key = value
// a line and whose datahash is the data stream's; the library out of the
// package configures a musl program's sockets (the control: the same
// program without it). No Alpine system or apk tool runs here.
func TestApk(t *testing.T) {
	dist := portableEnv(t, "KEEPALIVE_DIST", "the .apk")
	pkgs := map[string]string{}
	for _, name := range []string{"libkeepalive", "libkeepalive-doc"} {
		m, _ := filepath.Glob(filepath.Join(dist, name+"-[0-9]*-r0.x86_64.apk"))
		if len(m) != 1 {
			t.Fatalf("%s-VERSION-r0.x86_64.apk in %s: %v", name, dist, m)
		}
		pkgs[name] = m[0]
	}
	root := t.TempDir()
	for name, path := range pkgs {
		segs := readApk(t, path)
		if len(segs) != 2 || segs[0].files[".PKGINFO"] == nil {
			t.Fatalf("%s: %d streams, want control (.PKGINFO) and data", path, len(segs))
		}
		info := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(segs[0].data[".PKGINFO"])), "\n") {
			k, v, ok := strings.Cut(l, " = ")
			if !ok || strings.HasPrefix(l, " ") {
				t.Errorf("%s: .PKGINFO line %q is not key = value", name, l)
				continue
			}
			info[k] = append(info[k], v)
		}
		h := sha256.Sum256(segs[1].raw)
		want := map[string]string{"pkgname": name, "pkgver": version(t) + "-r0", "arch": "x86_64", "license": "MIT",
			"datahash": hex.EncodeToString(h[:])}
		if name == "libkeepalive" {
			want["depend"] = "so:libc.musl-x86_64.so.1"
			want["provides"] = "so:libkeepalive.so.1=1"
		}
		for k, v := range want {
			if !slices.Contains(info[k], v) {
				t.Errorf("%s: .PKGINFO %s = %v, want %s", name, k, info[k], v)
			}
		}
		for f, hdr := range segs[1].files {
			target := filepath.Join(root, f)
			switch hdr.Typeflag {
			case tar.TypeDir:
				os.MkdirAll(target, 0o755)
			case tar.TypeSymlink:
				os.MkdirAll(filepath.Dir(target), 0o755)
				os.Symlink(hdr.Linkname, target)
			case tar.TypeReg:
				os.MkdirAll(filepath.Dir(target), 0o755)
				os.WriteFile(target, segs[1].data[f], os.FileMode(hdr.Mode)&0o777)
			}
		}
	}
	// The one list, with the library at its SONAME and the license where
	// Alpine keeps it.
	for _, f := range installedFiles(t, "usr", true, true) {
		switch f {
		case "usr/lib/libkeepalive.so":
			if l, err := os.Readlink(filepath.Join(root, f)); err != nil || l != "libkeepalive.so.1" {
				t.Errorf("%s: want a link to libkeepalive.so.1, have %q (%v)", f, l, err)
			}
			f = "usr/lib/libkeepalive.so.1"
		case "usr/share/doc/libkeepalive/copyright":
			f = "usr/share/licenses/libkeepalive/LICENSE"
		}
		if strings.HasPrefix(f, "usr/lib/systemd/") {
			// Alpine runs OpenRC, not systemd: no unit belongs there.
			if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
				t.Errorf("the .apk holds %s, a systemd unit, which Alpine has no use for", f)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the .apk lacks %s", f)
		}
	}
	e, err := elf.Open(filepath.Join(root, "usr/lib/libkeepalive.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	soname, _ := e.DynString(elf.DT_SONAME)
	libs, _ := e.ImportedLibraries()
	e.Close()
	if len(soname) != 1 || soname[0] != "libkeepalive.so.1" || !slices.Contains(libs, "libc.so") {
		t.Errorf("the .apk's library: SONAME %v, needs %v; want libkeepalive.so.1 and musl's libc.so", soname, libs)
	}
	man := output(t, "zcat", filepath.Join(root, "usr/share/man/man8/libkeepalive.8.gz"))
	systemd, _ := os.ReadFile(filepath.Join(root, "usr/share/libkeepalive/systemd-keepalive.conf"))
	if !strings.Contains(man, "LD_PRELOAD='/usr/lib/libkeepalive.so'") || !strings.Contains(string(systemd), "LD_PRELOAD=/usr/lib/libkeepalive.so\n") {
		t.Errorf("the .apk's man page or systemd example does not name /usr/lib/libkeepalive.so (musl does not expand $LIB)")
	}
	need(t, "musl-gcc")
	drv := filepath.Join(t.TempDir(), "sockets")
	compile(t, []string{"musl-gcc"}, "-o", drv, "c/sockets.c")
	run := func(preload string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, drv)
		cmd.Env = append(baseEnv(), tuned...)
		if preload != "" {
			cmd.Env = append(cmd.Env, "LD_PRELOAD="+preload)
		}
		return finish(t, cmd, ctx)
	}
	control := run("")
	passed(t, "musl sockets control", control)
	wantUntouched(t, "inet_stream", line(control.stdout, "inet_stream"))
	r := run(filepath.Join(root, "usr/lib/libkeepalive.so"))
	passed(t, "musl sockets under the .apk's library", r)
	wantTuned(t, "inet_stream", line(r.stdout, "inet_stream"), "3000")
}
