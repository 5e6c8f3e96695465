package test

// keepalive cgroup: the configuration file, load (systemd's BPFProgram=) and
// the systemd examples (the environment: cgroup_env_test.go).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"
)

// On a host whose systemd ignores BPFProgram= (before 249), load refuses
// and points to the ExecStartPre= drop-in, so that keepalive-load@ fails
// instead of looking active; with a systemd that has it (the control), the
// same load pins.
func TestCgroupLoadOldSystemd(t *testing.T) {
	c := newCgEnv(t)
	for _, tc := range []struct {
		version string
		status  int
	}{{"systemd 247 (247.3-7+deb11u4)\n+PAM +AUDIT", 1}, {"systemd 252 (252.38-1~deb12u1)\n+PAM", 0}} {
		stub := t.TempDir()
		script := "#!/bin/sh\n[ \"$1\" = --version ] && printf '" + tc.version + "\\n' && exit 0\nexit 1\n"
		if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		r := run{env: []string{"PATH=" + stub + ":" + os.Getenv("PATH")}, timeout: 30 * time.Second,
			args: []string{command, "cgroup", "load", "--idle", "60", "--bpffs", c.bpffs, "legacy"}}.exec(t)
		_, pinned := os.Stat(filepath.Join(c.bpffs, "keepalive", "loaded", "legacy", "sock_ops"))
		if tc.status == 1 {
			want := "keepalive: systemd 247 here ignores BPFProgram= (it needs systemd 249 or newer), so a unit using this load would run without keepalive: attach from the unit instead, with the ExecStartPre= drop-in keepalive-cgroup.conf"
			if r.status.ExitStatus() != 1 || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "keepalive: nothing was loaded\n") || pinned == nil {
				t.Errorf("systemd 247: want status 1, %q and nothing pinned:\n%s", want, r)
			}
		} else if r.status != 0 || pinned != nil {
			t.Errorf("control, systemd 252: want the load pinned: %v\n%s", pinned, r)
		}
	}
}

// load pins the program and its settings without attaching; attaching the
// pinned program the way systemd's BPFProgram= does (BPF_PROG_ATTACH with
// BPF_F_ALLOW_MULTI) configures connections.
func TestCgroupLoad(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	r := c.ka(t, append([]string{"load"}, append(attachedSettings, "legacy")...)...)
	if r.status != 0 {
		t.Fatalf("load: %s", r)
	}
	pin := filepath.Join(c.bpffs, "keepalive", "loaded", "legacy", "sock_ops")
	if !strings.Contains(r.stdout, "BPFProgram=sock_ops:"+pin) {
		t.Errorf("load should name the pin for BPFProgram=: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Fatalf("load attached %d programs, want none", n)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
		t.Fatalf("control, loaded but not attached: %s, want ka=0", fields(got))
	}
	prog, err := ebpf.LoadPinnedProgram(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	const allowMulti = 2 // BPF_F_ALLOW_MULTI, as systemd attaches
	if err := ebpflink.RawAttachProgram(ebpflink.RawAttachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps, Flags: allowMulti}); err != nil {
		t.Fatal(err)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
		t.Errorf("pinned program attached as systemd does: %s, want %s", got, wantAttached)
	}
	// A second load changes the settings of the attached program.
	if r := c.ka(t, "load", "--idle", "22", "legacy"); r.status != 0 {
		t.Fatalf("load again: %s", r)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "22" || got["intvl"] != "75" {
		t.Errorf("after a second load: %s, want idle=22 and the kernel's intvl=75", fields(got))
	}
	// A load with rules by destination: the program attached from the
	// pin reads them on its next connection.
	conf := filepath.Join(t.TempDir(), "rules.conf")
	os.WriteFile(conf, []byte("KEEPIDLE=22\nto 127.0.0.1 KEEPIDLE=33\nto 10.0.0.0/8 KEEPIDLE=44\n"), 0o644)
	if r := c.ka(t, "load", "--config", conf, "legacy"); r.status != 0 || !strings.Contains(r.stdout, "2 rules by destination first") {
		t.Fatalf("load --config with rules: %s", r)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "33" {
		t.Errorf("after a load with a rule for 127.0.0.1: %s, want the rule's idle=33", fields(got))
	}
	// Pins of a release before rules (no rules map): the load replaces
	// the pinned program, as the old one would not read the rules, and
	// the new one, attached as systemd does at the unit's next start,
	// reads them.
	os.Remove(filepath.Join(filepath.Dir(pin), "rules"))
	if r := c.ka(t, "load", "--config", conf, "legacy"); r.status != 0 {
		t.Fatalf("load --config over pins without a rules map: %s", r)
	}
	renewed, err := ebpf.LoadPinnedProgram(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer renewed.Close()
	oldInfo, _ := prog.Info()
	newInfo, _ := renewed.Info()
	oldID, _ := oldInfo.ID()
	newID, _ := newInfo.ID()
	if oldID == newID {
		t.Errorf("the pinned program was kept (ID %d) though it reads no rules", oldID)
	}
	if err := ebpflink.RawDetachProgram(ebpflink.RawDetachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps}); err != nil {
		t.Fatal(err)
	}
	prog = renewed
	if err := ebpflink.RawAttachProgram(ebpflink.RawAttachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps, Flags: allowMulti}); err != nil {
		t.Fatal(err)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "33" {
		t.Errorf("the renewed program: %s, want the rule's idle=33", fields(got))
	}
	if err := ebpflink.RawDetachProgram(ebpflink.RawDetachProgramOptions{Target: c.fd, Program: prog, Attach: ebpf.AttachCGroupSockOps}); err != nil {
		t.Fatal(err)
	}
	if r := c.ka(t, "unload", "legacy"); r.status != 0 {
		t.Fatalf("unload: %s", r)
	}
	if _, err := os.Stat(filepath.Dir(pin)); err == nil {
		t.Errorf("unload left %s", filepath.Dir(pin))
	}
}

// The systemd examples, as systemd reads them: `systemd-analyze verify` on a
// service and a socket with the drop-ins, and the load template, finds no
// unknown key, bad BPFProgram= or missing command. What this cannot check
// without systemd running as init: the attachment when the units start.
func TestCgroupSystemdExamples(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("SKIPPED LOUDLY: no systemd-analyze here (package systemd) to verify the systemd examples with")
	}
	units := t.TempDir()
	examples := filepath.Join("..", "scripts", "systemd")
	install := func(from, to string, edit func(string) string) {
		b, err := os.ReadFile(filepath.Join(examples, from))
		if err != nil {
			t.Fatal(err)
		}
		s := edit(string(b))
		os.MkdirAll(filepath.Dir(filepath.Join(units, to)), 0o755)
		if err := os.WriteFile(filepath.Join(units, to), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(units, "legacy.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(units, "legacy.socket"), []byte("[Socket]\nListenStream=127.0.0.1:7311\n"), 0o644)
	os.WriteFile(filepath.Join(units, "other.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	os.WriteFile(filepath.Join(units, "control.service"), []byte("[Service]\nExecStart=/bin/sleep 1000\n"), 0o644)
	here := func(s string) string { return strings.ReplaceAll(s, "@BINDIR@", filepath.Dir(command)) }
	// As the example says for a .socket unit: the same lines under [Socket].
	socket := func(s string) string { return strings.ReplaceAll(here(s), "[Service]", "[Socket]") }
	install("keepalive-load@.service", "keepalive-load@.service", here)
	install("keepalive-cgroup@.service", "keepalive-cgroup@.service", here)
	install("keepalive-metrics.service", "keepalive-metrics.service", here)
	install("keepalive-metrics.timer", "keepalive-metrics.timer", here)
	install("keepalive-cgroup.conf", "legacy.service.d/keepalive-cgroup.conf", here)
	install("keepalive-cgroup.conf", "legacy.socket.d/keepalive-cgroup.conf", socket)
	install("keepalive-bpfprogram.conf", "other.service.d/keepalive-bpfprogram.conf", here)
	verify := func(unit string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", filepath.Join(units, unit)) // the man page is not installed here
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":", "SYSTEMD_LOG_COLOR=0")
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	for _, u := range []string{"legacy.service", "legacy.socket", "other.service", "keepalive-load@legacy.service",
		"keepalive-cgroup@system.slice.service", "keepalive-metrics.service", "keepalive-metrics.timer"} {
		if out := verify(u); out != "" {
			t.Errorf("systemd-analyze verify %s:\n%s", u, out)
		}
	}
	// The control: a drop-in with a misspelt key and a wrong path is
	// read and complained about, so silence above means something.
	install("keepalive-cgroup.conf", "control.service.d/keepalive-cgroup.conf", func(s string) string {
		return strings.ReplaceAll(s, "@BINDIR@", "/nonexistent") + "BPFProgramm=sock_ops:/x\n"
	})
	if out := verify("control.service"); !strings.Contains(out, "BPFProgramm") || !strings.Contains(out, "/nonexistent/keepalive") {
		t.Errorf("control: systemd-analyze verify did not complain about a bad drop-in:\n%s", out)
	}
}

// One configuration file for both modes: attach --config FILE applies the
// library's file (its settings, and KEEPALIVE=force as --force) with the
// library's reader and messages; options override it; a file with a bad
// value, KEEPALIVE=off or a missing file named by --config attaches
// nothing; without any option the library's /etc/keepalive.conf is read
// (here in a mount namespace of the test's own, over an /etc of its own).
// Each is read back from the kernel by the static Go client.
func TestCgroupConfigFile(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	dir := t.TempDir()
	conf := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := conf("good.conf", "# the host's policy\nKEEPIDLE=11\nKEEPINTVL=4s\nKEEPCNT=3\nKEEPUSERTIMEOUT=5\nKEEPALIVE_EXCLUDE=java\n")
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
		t.Fatalf("control, before attach: %s, want ka=0", fields(got))
	}
	r := c.ka(t, "attach", "--config", good, c.dir)
	if r.status != 0 || !strings.Contains(r.stdout, "settings from "+good) ||
		!strings.Contains(r.stderr, "keepalive: note: "+good+":6: KEEPALIVE_EXCLUDE is the library's") {
		t.Fatalf("attach --config: %s", r)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
		t.Errorf("after attach --config: %s, want %s", got, wantAttached)
	}
	if r := c.ka(t, "attach", "--config", good, "--idle", "22", c.dir); r.status != 0 {
		t.Fatalf("attach --config --idle: %s", r)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "22" || got["intvl"] != "4" || got["ut"] != "5000" {
		t.Errorf("an option over the file: %s, want idle=22 from the option, intvl=4 and ut=5000 from the file", fields(got))
	}
	forced := conf("force.conf", "KEEPALIVE=force\nKEEPIDLE=11\n")
	if r := c.ka(t, "attach", "--config", forced, c.dir); r.status != 0 {
		t.Fatalf("attach --config with KEEPALIVE=force: %s", r)
	}
	if n := c.programs(t, ebpf.AttachCGroupSetsockopt); n != 1 {
		t.Errorf("KEEPALIVE=force in the file: %d setsockopt programs, want 1 (as --force)", n)
	}
	if got := c.probe(t, true, probeGoBin, "dial", addr, "-go"); got["idle"] != "11" {
		t.Errorf("KEEPALIVE=force: Go's own keepalive got %s, want the file's idle=11", fields(got))
	}
	if r := c.ka(t, "attach", "--config", good, c.dir); r.status != 0 {
		t.Fatalf("attach --config again: %s", r)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"bad-value", conf("bad.conf", "KEEPIDLE=60\nKEEPCNT=0\n"),
			`libkeepalive: ` + dir + `/bad.conf:2: KEEPCNT="0" is out of range: want a number of probes from 1 to 127`},
		{"off", conf("off.conf", "KEEPALIVE=off\n"), "keepalive: " + dir + `/off.conf:1: KEEPALIVE="off" means no keepalive`},
		{"missing", filepath.Join(dir, "nope.conf"), "libkeepalive: " + dir + "/nope.conf"},
		{"not-a-setting", conf("typo.conf", "KEEPIDEL=60\n"), "libkeepalive: " + dir + "/typo.conf:1 is not a setting"},
		// A bad rule by destination, which the library ignores alone, is
		// the file's problem here too: the whole file or nothing.
		{"bad-rule", conf("badrule.conf", "KEEPIDLE=60\nto 10.0.0.0/33 KEEPIDLE=5\n"),
			"libkeepalive: " + dir + `/badrule.conf:2 NETWORK "10.0.0.0/33" is not a network`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.ka(t, "attach", "--config", tc.file, "--idle", "30", c.dir)
			if r.status.ExitStatus() != 2 || !strings.Contains(r.stderr, tc.want) ||
				!strings.HasSuffix(r.stderr, "keepalive: nothing was attached: the cgroup mode applies a configuration file whole or not at all\n") {
				t.Errorf("want status 2, %q and nothing attached:\n%s", tc.want, r)
			}
			if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
				t.Errorf("after the refusal: %s, want the earlier %s", got, wantAttached)
			}
		})
	}
	t.Run("check", func(t *testing.T) {
		for _, tc := range []struct{ file, want string }{
			{good, "cgroup mode: keepalive cgroup attach --config " + good + " would apply idle 11s, interval 4s, count 3, user timeout 5000ms (from " + good},
			{forced, "would apply idle 11s, interval kernel's, count kernel's, user timeout kernel's, forced"},
			{filepath.Join(dir, "off.conf"), "cgroup mode: keepalive cgroup attach --config " + dir + "/off.conf would refuse " + dir + "/off.conf:\n  keepalive: " + dir + "/off.conf:1: KEEPALIVE=\"off\""},
		} {
			r := run{args: []string{command, "check", "--config", tc.file}, timeout: 30 * time.Second}.exec(t)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("keepalive check --config %s: want %q:\n%s", tc.file, tc.want, r)
			}
		}
	})
	t.Run("default-file", func(t *testing.T) {
		need(t, "unshare")
		etc := t.TempDir()
		if err := os.WriteFile(filepath.Join(etc, "keepalive.conf"), []byte("KEEPIDLE=33\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ka := func(args ...string) result {
			script := `mount --bind "$1" /etc && shift && exec "$@"`
			return run{args: append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", etc, command, "cgroup"},
				append(args, "--bpffs", c.bpffs)...), timeout: 30 * time.Second}.exec(t)
		}
		if r := ka("attach", c.dir); r.status != 0 || !strings.Contains(r.stdout, "settings from /etc/keepalive.conf") {
			t.Fatalf("attach with no option: %s", r)
		}
		if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "33" || got["intvl"] != "75" {
			t.Errorf("attach with no option: %s, want /etc/keepalive.conf's idle=33 and the kernel's intvl=75", fields(got))
		}
		// Any option: the file is not read (the shipped drop-in's lines
		// keep their meaning).
		if r := ka("attach", "--count", "4", c.dir); r.status != 0 || strings.Contains(r.stdout, "settings from") {
			t.Fatalf("attach --count: %s", r)
		}
		if got := c.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "7200" || got["cnt"] != "4" {
			t.Errorf("attach --count: %s, want the kernel's idle=7200 and cnt=4", fields(got))
		}
	})
}
