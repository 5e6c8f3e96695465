package test

// The packages by each distribution's own checker: lintian for every .deb,
// rpmlint for every .rpm. Overrides and filters live with the packages
// (scripts/package, scripts/rpmlint.toml), each with its reason.

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lint runs a checker on one package, bounded.
func lint(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s hung", name, strings.Join(args, " "))
	}
	return string(out), err
}

// lintian: no error and no warning on any .deb. The control: a package
// with 1.0.0's faults (a bogus maintainer address, no changelog) is
// reported, so that a silent lintian cannot pass.
func TestLintian(t *testing.T) {
	dist := portableEnv(t, "KEEPALIVE_DIST", "the packages' lintian check")
	need(t, "lintian")
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 6 {
		t.Fatalf("want 6 .debs (libkeepalive1 and keepalive for amd64, arm64, i386) in %s, have %v", dist, debs)
	}
	tag := regexp.MustCompile(`(?m)^[EW]: .*$`)
	for _, deb := range debs {
		t.Run(filepath.Base(deb), func(t *testing.T) {
			out, err := lint(t, "lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", deb)
			if bad := tag.FindAllString(out, -1); err != nil || len(bad) > 0 {
				t.Errorf("lintian %s: %v\n%s", filepath.Base(deb), err, out)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		root := t.TempDir()
		output(t, "sh", "-c", `mkdir -p "$0/DEBIAN" "$0/usr/share/doc/bad" && echo 'hello' > "$0/usr/share/doc/bad/README" &&
			printf 'Package: bad\nVersion: 1.0.0\nArchitecture: all\nMaintainer: bad <bad@localhost>\nDescription: a control\n a control\n' > "$0/DEBIAN/control" &&
			dpkg-deb --root-owner-group --build "$0" "$0.deb" >/dev/null`, root)
		out, err := lint(t, "lintian", "--fail-on", "error,warning", root+".deb")
		if err == nil || !strings.Contains(out, "bogus-mail-host") || !strings.Contains(out, "no-changelog") {
			t.Errorf("control: lintian passed a package with a bogus address and no changelog (%v):\n%s", err, out)
		}
	})
}

// rpmlint: no error on any .rpm, with the project's filters. The control:
// without them the same packages have errors (the static command), so the
// filters are what passes them, and each is needed.
func TestRpmlint(t *testing.T) {
	dist := portableEnv(t, "KEEPALIVE_DIST", "the packages' rpmlint check")
	need(t, "rpmlint")
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(rpms) != 6 {
		t.Fatalf("want 6 .rpms (libkeepalive1 and keepalive for x86_64, aarch64, i686) in %s, have %v", dist, rpms)
	}
	errors := regexp.MustCompile(`(\d+) errors, (\d+) warnings`)
	for _, rpm := range rpms {
		t.Run(filepath.Base(rpm), func(t *testing.T) {
			out, err := lint(t, "rpmlint", "-c", "../scripts/rpmlint.toml", rpm)
			m := errors.FindStringSubmatch(out)
			if m == nil || m[1] != "0" || err != nil {
				t.Errorf("rpmlint %s: %v\n%s", filepath.Base(rpm), err, out)
			} else {
				t.Logf("rpmlint %s: %s", filepath.Base(rpm), m[0])
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		cmd, _ := filepath.Glob(filepath.Join(dist, "keepalive-*.x86_64.rpm"))
		if len(cmd) != 1 {
			t.Fatalf("keepalive-*.x86_64.rpm: %v", cmd)
		}
		out, _ := lint(t, "rpmlint", cmd[0])
		if !strings.Contains(out, "E: statically-linked-binary") || !strings.Contains(out, "E: no-signature") {
			t.Errorf("control: rpmlint without the filters does not report the static command and the signature:\n%s", out)
		}
	})
}
