package test

// keepalive cgroup: the names of cgroups, units and pins: unit names, nested
// operator names, refused names, a failed attach and a cgroup made again
// (the environment: cgroup_env_test.go).

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// systemd removes a unit's cgroup when it stops and makes it again when it
// starts: the pinned link then holds a cgroup that is gone. status says so,
// and attach to the new cgroup replaces it.
func TestCgroupRecreated(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	c.attach(t, attachedSettings...)
	unix.Close(c.fd)
	if err := os.Remove(c.dir); err != nil {
		t.Fatal(err)
	}
	if st := c.status(t); st["STATE"] != "gone" {
		t.Errorf("status with the cgroup gone: %v, want stale", st)
	}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if st := c.status(t); st["STATE"] != "remade" {
		t.Errorf("status with the cgroup made again: %v, want remade", st)
	}
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.fd = fd
	if got := c.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
		t.Fatalf("control, the new cgroup before attach: %s, want ka=0", fields(got))
	}
	c.attach(t, attachedSettings...)
	if st := c.status(t); st["STATE"] != "attached" {
		t.Errorf("status after attach to the new cgroup: %v", st)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
		t.Errorf("%d sock_ops programs on the new cgroup, want 1", n)
	}
	if got := fields(c.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
		t.Errorf("new cgroup after attach: %s, want %s", got, wantAttached)
	}
}

// A systemd unit name resolves through `systemctl show -p ControlGroup`
// under the cgroup2 mount, wherever that is (here a stand-in systemctl that
// answers as systemd does, since systemd need not be running), with the
// unit's dots and systemd's own escapes; a file of the same name in the
// current directory (a unit file, to an operator in /etc/systemd/system) is
// not taken for the cgroup; a bpffs that is not mounted gets mounted.
func TestCgroupUnitName(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	stub := t.TempDir()
	rel := strings.TrimPrefix(c.dir, cgroup2Root(t))
	units := map[string]string{"legacy.service": "system.slice/legacy.service", `web\x2dfront.service`: `system.slice/web\x2dfront.service`}
	script := "#!/bin/sh\n"
	for u, cg := range units {
		script += fmt.Sprintf("[ \"$*\" = 'show -p ControlGroup --value -- %s' ] && echo '%s/%s' && exit 0\n", u, rel, cg)
	}
	script += "echo \"Unit $* not found.\" >&2; exit 1\n"
	if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	unitFile := filepath.Join(bin, "legacy.service") // bin is where run starts programs
	if err := os.WriteFile(unitFile, []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(unitFile)
	unmounted := filepath.Join(t.TempDir(), "bpf")
	env := []string{"PATH=" + stub + ":" + os.Getenv("PATH")}
	ka := func(args ...string) result {
		return run{env: env, args: append([]string{command, "cgroup"}, append(args, "--bpffs", unmounted)...), timeout: 30 * time.Second}.exec(t)
	}
	mounted := false
	defer func() {
		if mounted {
			unix.Unmount(unmounted, 0)
		}
	}()
	for _, u := range []string{"legacy.service", `web\x2dfront.service`} {
		t.Run(u, func(t *testing.T) {
			dir, fd := c.sub(t, units[u])
			in := c.in(dir, fd)
			if got := in.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
				t.Fatalf("control, before attach: %s, want ka=0", fields(got))
			}
			r := ka("attach", "--idle", "11", u)
			var sfs unix.Statfs_t
			if !mounted && unix.Statfs(unmounted, &sfs) == nil && sfs.Type == 0xcafe4a11 {
				mounted = true
			}
			if r.status != 0 || !strings.Contains(r.stdout, "attached to "+dir+":") {
				t.Fatalf("attach %s: want it resolved to %s: %s", u, dir, r)
			}
			if got := in.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "11" {
				t.Errorf("after attach by unit name: %s, want idle=11", fields(got))
			}
			if r := ka("status", u); r.status != 0 || !strings.Contains(r.stdout, "\n"+dir+" ") {
				t.Errorf("status %s: want its line: %s", u, r)
			}
			// The same cgroup as systemd-cgls writes it, relative to the
			// cgroup2 mount.
			cgls := strings.TrimPrefix(dir, cgroup2Root(t)+"/")
			if r := ka("attach", "--idle", "12", cgls); r.status != 0 || !strings.Contains(r.stdout, "attached to "+dir+":") {
				t.Errorf("attach %s: want it resolved to %s: %s", cgls, dir, r)
			}
			if got := in.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "12" {
				t.Errorf("after attach by %s: %s, want idle=12", cgls, fields(got))
			}
			if r := ka("detach", u); r.status != 0 {
				t.Errorf("detach %s: %s", u, r)
			}
			if got := in.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
				t.Errorf("after detach by unit name: %s, want ka=0", fields(got))
			}
		})
	}
	if !mounted {
		t.Errorf("attach did not mount bpffs at %s", unmounted)
	}
	// A unit that stopped has no cgroup for systemd to show (its
	// ExecStopPost= may run after that): status and detach by its name
	// still find its pins.
	t.Run("stopped", func(t *testing.T) {
		dir, _ := c.sub(t, units["legacy.service"])
		if r := ka("attach", "--idle", "11", "legacy.service"); r.status != 0 {
			t.Fatalf("attach: %s", r)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		stopped := t.TempDir()
		os.WriteFile(filepath.Join(stopped, "systemctl"), []byte("#!/bin/sh\n[ \"$*\" = 'show -p ControlGroup --value -- legacy.service' ] && echo && exit 0\nexit 1\n"), 0o755)
		gone := func(args ...string) result {
			return run{env: []string{"PATH=" + stopped + ":" + os.Getenv("PATH")}, args: append([]string{command, "cgroup"}, append(args, "--bpffs", unmounted)...), timeout: 30 * time.Second}.exec(t)
		}
		if r := gone("status", "legacy.service"); r.status != 0 || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(dir)+`\s+gone\s`).MatchString(r.stdout) {
			t.Errorf("status of the stopped unit: want its line, gone: %s", r)
		}
		if r := gone("detach", "legacy.service"); r.status != 0 || !strings.Contains(r.stdout, "detached from "+dir) {
			t.Errorf("detach of the stopped unit: %s", r)
		}
		if r := gone("detach", "legacy.service"); r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "systemd unit legacy.service has no cgroup") {
			t.Errorf("control, detach again, nothing left: want status 1 and systemd's answer: %s", r)
		}
	})
	r := ka("attach", "other.service")
	if r.status.ExitStatus() != 1 || !strings.Contains(r.stderr, "other.service is neither a directory nor a systemd unit systemctl can show (Unit show -p ControlGroup") {
		t.Errorf("an unknown unit: %s", r)
	}
}

// Cgroups named as systemd, Docker, Podman and Kubernetes name them, each
// with a dot (which bpffs refuses in a pin's name), some with '@', '\' and
// '_', and one whose pin name would pass NAME_MAX: each is attached, read
// back by a static Go client in it and by status, attached again and
// detached. The control is the same client in the unattached parent.
func TestCgroupOperatorNames(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	hex64 := strings.Repeat("0123456789abcdef", 4)
	long := "kubepods.slice/" + strings.Repeat("kubepods-burstable-pod.slice/", 8) + "cri-containerd-" + hex64 + ".scope"
	for _, tc := range []struct {
		name, attach, client string // the cgroup attached, and the one the client runs in
	}{
		{"service", "system.slice/legacy.service", ""},
		{"socket", "system.slice/legacy.socket", ""},
		{"slice", "system.slice", "system.slice/other.service"},
		{"template-instance", "system.slice/system-getty.slice/getty@tty1.service", ""},
		{"systemd-escape", `system.slice/web\x2dfront.service`, ""},
		{"docker-scope", "system.slice/docker-" + hex64 + ".scope", ""},
		{"kubernetes-pod", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3b1e3a2c_5f4d_4e7a_9c1b_2d6f8e0a1b2c.slice/cri-containerd-" + hex64 + ".scope", ""},
		{"over-name-max", long, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.client == "" {
				tc.client = tc.attach
			}
			dir, fd := c.sub(t, tc.attach)
			a := c.in(dir, fd)
			client := a
			if tc.client != tc.attach {
				client = c.in(c.sub(t, tc.client))
			}
			if got := c.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
				t.Fatalf("control, in the unattached parent: %s, want ka=0", fields(got))
			}
			if r := a.ka(t, append(append([]string{"attach"}, attachedSettings...), dir)...); r.status != 0 {
				t.Fatalf("attach %s: %s", dir, r)
			}
			if got := fields(client.probe(t, true, probeGoBin, "dial", addr)); got != wantAttached {
				t.Errorf("in %s: %s, want %s", tc.client, got, wantAttached)
			}
			if got := c.probe(t, true, probeGoBin, "dial", addr); got["ka"] != "0" {
				t.Errorf("control after attach, in the parent: %s, want ka=0", fields(got))
			}
			if st := a.status(t); st["STATE"] != "attached" || st["IDLE"] != "11s" || st["CONFIGURED"] != "1" {
				t.Errorf("status: %v", st)
			}
			if j := a.statusJSON(t); j.Cgroup != dir || j.Kind != "attached" || j.State != "attached" || j.IdleSeconds == nil || *j.IdleSeconds != 11 ||
				j.UserTimeoutMs == nil || *j.UserTimeoutMs != 5000 || j.Configured == nil || *j.Configured != 1 || j.TimedOut != nil && *j.TimedOut != 0 {
				t.Errorf("status --json: %+v", j)
			}
			if r := a.ka(t, "attach", "--idle", "22", dir); r.status != 0 {
				t.Fatalf("attach again: %s", r)
			}
			if got := client.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "22" || got["intvl"] != "75" {
				t.Errorf("after attaching again: %s, want idle=22 and the kernel's intvl=75", fields(got))
			}
			if n := a.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
				t.Errorf("after two attaches: %d sock_ops programs, want 1", n)
			}
			a.detach(t, client, addr)
		})
	}
}

// A failed attach says what is attached to the cgroup now, as the kernel
// has it: nothing (every time, not only the first), or the earlier settings
// by name, which are still the ones connections get.
func TestCgroupFailedAttach(t *testing.T) {
	buildProbes(t)
	c := newCgEnv(t)
	addr := listener(t, "tcp4", "127.0.0.1:0")
	dir, fd := c.sub(t, "system.slice/legacy.service")
	a := c.in(dir, fd)
	obstacle := func(t *testing.T, path string) func() {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o700)
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.Pin(path); err != nil {
			t.Fatal(err)
		}
		return func() { os.Remove(path) }
	}
	t.Run("nothing-attached", func(t *testing.T) {
		// A foreign sock_ops program on the cgroup, as BPFProgram= makes.
		if r := a.ka(t, "load", "--idle", "99", "foreign"); r.status != 0 {
			t.Fatalf("load: %s", r)
		}
		prog, err := ebpf.LoadPinnedProgram(filepath.Join(c.bpffs, "keepalive", "loaded", "foreign", "sock_ops"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		opts := ebpflink.RawAttachProgramOptions{Target: fd, Program: prog, Attach: ebpf.AttachCGroupSockOps, Flags: 2}
		if err := ebpflink.RawAttachProgram(opts); err != nil {
			t.Fatal(err)
		}
		defer ebpflink.RawDetachProgram(ebpflink.RawDetachProgramOptions{Target: fd, Program: prog, Attach: ebpf.AttachCGroupSockOps})
		remove := obstacle(t, filepath.Join(c.bpffs, "keepalive", "attached"))
		defer remove()
		want := "keepalive: nothing of keepalive's is attached to " + dir + " (1 other sock_ops program(s), not keepalive's, are attached there)\n"
		for i := 0; i < 2; i++ {
			r := a.ka(t, "attach", "--idle", "30", dir)
			if r.status.ExitStatus() != 1 || !strings.HasSuffix(r.stderr, want) || strings.Count(r.stderr, "\n") != 2 {
				t.Errorf("attempt %d: want status 1, the cause and %q:\n%s", i+1, want, r)
			}
		}
		if n := a.programs(t, ebpf.AttachCGroupSockOps); n != 1 {
			t.Errorf("%d sock_ops programs, want the foreign one alone", n)
		}
		remove()
		if r := a.ka(t, "attach", "--idle", "30", dir); r.status != 0 {
			t.Errorf("control, the obstacle gone: %s", r)
		}
		a.ka(t, "detach", dir)
	})
	t.Run("earlier-settings", func(t *testing.T) {
		if r := a.ka(t, "attach", "--idle", "30", "--count", "4", dir); r.status != 0 {
			t.Fatalf("attach: %s", r)
		}
		defer a.ka(t, "detach", dir)
		pinDir := filepath.Join(c.bpffs, "keepalive", "attached", "+"+strings.ReplaceAll(strings.ReplaceAll(strings.TrimPrefix(dir, "/"), ".", "%2E"), "/", "+"))
		if _, err := os.Stat(pinDir); err != nil {
			t.Fatalf("the pins are not where the name says: %v", err)
		}
		defer obstacle(t, filepath.Join(pinDir, "setsockopt_link"))()
		r := a.ka(t, "attach", "--force", "--idle", "40", dir)
		want := "keepalive: " + dir + " keeps the earlier settings: idle 30s, interval kernel's, count 4, user timeout kernel's\n"
		if r.status.ExitStatus() != 1 || !strings.HasSuffix(r.stderr, want) {
			t.Errorf("want status 1 and %q:\n%s", want, r)
		}
		if got := a.probe(t, true, probeGoBin, "dial", addr); got["idle"] != "30" || got["cnt"] != "4" {
			t.Errorf("after the failed attach: %s, want the earlier idle=30 cnt=4", fields(got))
		}
		if n := a.programs(t, ebpf.AttachCGroupSetsockopt); n != 0 {
			t.Errorf("after the failed --force: %d setsockopt programs, want 0", n)
		}
		if st := a.status(t); st["IDLE"] != "30s" || st["FORCE"] != "no" {
			t.Errorf("status after the failed attach: %v", st)
		}
	})
}

// Names the command hands to bpffs from what the operator typed: a load's
// NAME with a dot (or '%', '\', '/') and a --bpffs path with a dot inside a
// bpffs get our own line, never the kernel's EPERM, and nothing is made.
func TestCgroupRefusedNames(t *testing.T) {
	c := newCgEnv(t)
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"load", "--idle", "60", "legacy.service"}, 2, `load NAME "legacy.service" cannot be a pin directory: it holds '.'; a NAME may hold only letters, digits, '-', '_' and '@'`},
		{[]string{"load", "--idle", "60", `web\x2dfront`}, 2, `it holds '\\'`},
		{[]string{"unload", "legacy.service"}, 2, `try "legacy"`},
		{[]string{"attach", "--idle", "60", "--bpffs", filepath.Join(c.bpffs, "my.pins"), c.dir}, 1, "bpffs refuses names that hold a '.' (my.pins)"},
	} {
		var r result
		if slices.Contains(tc.args, "--bpffs") {
			r = run{args: append([]string{command, "cgroup"}, tc.args...), timeout: 30 * time.Second}.exec(t)
		} else {
			r = c.ka(t, tc.args...)
		}
		if r.status.ExitStatus() != tc.status || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "operation not permitted") {
			t.Errorf("%v: want status %d and %q, not the kernel's EPERM:\n%s", tc.args, tc.status, tc.want, r)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(c.bpffs, "keepalive", "loaded")); len(ents) != 0 {
		t.Errorf("refused names left pins: %v", ents)
	}
	if n := c.programs(t, ebpf.AttachCGroupSockOps); n != 0 {
		t.Errorf("%d programs attached after refusals", n)
	}
	// The control: the suggested name loads.
	if r := c.ka(t, "load", "--idle", "60", "legacy"); r.status != 0 {
		t.Errorf("control, load legacy: %s", r)
	}
}
