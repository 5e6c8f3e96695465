package test

// keepalive cgroup: a dead peer, and the settings in a container's own
// network namespace (the environment: cgroup_env_test.go).

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A static Go client idle on a connection whose peer vanished (its link went
// down) finds out within idle + interval x count + 1 s; one that sends after
// the peer vanished (keepalive never fires while data is unacknowledged) is
// ended by --user-timeout. The controls, in the same kind of cgroup without
// the attachment or with keepalive alone, are still waiting.
func TestCgroupDeadPeer(t *testing.T) {
	buildProbes(t)
	t.Parallel()
	const idle, intvl, cnt = 1, 1, 2
	keepalive := []string{"--idle", strconv.Itoa(idle), "--interval", strconv.Itoa(intvl), "--count", strconv.Itoa(cnt)}
	bound := time.Duration(idle+intvl*cnt+1) * time.Second
	for _, tc := range []struct {
		name, mode string
		attach     []string
		within     time.Duration // 0: want the client still waiting
	}{
		{"idle-unattached", "wire", nil, 0},
		{"idle-attached", "wire", keepalive, bound},
		{"busy-keepalive-only", "busy", keepalive, 0},
		{"busy-user-timeout", "busy", append([]string{"--user-timeout", "3"}, keepalive...), 3*time.Second + busyMargin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCgEnv(t)
			if tc.attach != nil {
				c.attach(t, tc.attach...)
			}
			l := newLink(t)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			p := c.wireProbe(t, l, true, tc.mode, serverAddr, wirePort)
			conn := p.expect(t, "connected")
			l.vanish(t, l.srv, l.srvIf)
			fmt.Fprintln(p.in, "go")
			o := p.outcome(t, wireWatch)
			if tc.attach != nil {
				if want := fmt.Sprintf("ka=1 idle=%d intvl=%d cnt=%d", idle, intvl, cnt); !strings.Contains(conn, want) {
					t.Errorf("connection: %q, want %s", conn, want)
				}
			} else if !strings.Contains(conn, "ka=0") {
				t.Errorf("control: connection %q, want keepalive off", conn)
			}
			if tc.within != 0 && (o.errno != etimedout || o.seconds > tc.within.Seconds()) {
				t.Errorf("want ETIMEDOUT within %v, got %q", tc.within, o.line)
			}
			if tc.within == 0 && o.line != "" {
				t.Errorf("want the client still waiting after %v, got %q", wireWatch, o.line)
			}
			// The dead peer is counted where the kernel closed the
			// connection for it, and only there.
			if tc.attach != nil {
				want := uint64(0)
				if tc.within != 0 {
					want = 1
				}
				j := c.statusJSON(t)
				if j.TimedOut == nil {
					t.Logf("NOT COUNTED on Linux %s: timed_out is null (the kernel cannot run the counting program)", kernelRelease(t))
				} else if *j.TimedOut != want {
					t.Errorf("status --json: timed_out %d, want %d", *j.TimedOut, want)
				}
				if st := c.status(t); j.TimedOut != nil && st["TIMED-OUT"] != strconv.FormatUint(want, 10) {
					t.Errorf("status: TIMED-OUT %s, want %d", st["TIMED-OUT"], want)
				}
			}
		})
	}
}

// wireProbe starts the static Go probe in mode (wire or busy) in l's client
// namespace, dialing addr:port: in c's cgroup, or (the control) not.
func (c *cgEnv) wireProbe(t *testing.T, l *link, inCgroup bool, mode, addr, port string) *proc {
	t.Helper()
	cmd := exec.CommandContext(l.ctx, "ip", "netns", "exec", l.cli, probeGoBin, mode, net.JoinHostPort(addr, port))
	if inCgroup {
		// The process joins the cgroup as it is made, before ip netns
		// exec remounts /sys in the namespace.
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.fd}
	}
	return startProc(t, cmd)
}

// A process started as Docker and Podman start one: in a scope of its own
// under system.slice or machine.slice, in its own network namespace (the
// peer across a veth pair, outside) and mount and UTS namespaces, a static
// Go program no preload could reach. One attach to the slice covers it,
// whatever the container's own keepalive sysctls (per network namespace,
// not the host's). The control is the same container before the attach.
func TestCgroupContainerScope(t *testing.T) {
	buildProbes(t)
	need(t, "unshare")
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct{ name, slice, scope string }{
		{"docker", "system.slice", "docker-" + hex64 + ".scope"},
		{"podman", "machine.slice", "libpod-" + hex64 + ".scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCgEnv(t)
			slice, sliceFD := c.sub(t, tc.slice)
			scope, scopeFD := c.sub(t, tc.slice+"/"+tc.scope)
			l := newLink(t)
			srv := l.start(t, l.srv, false, nil, echoServerPy, serverAddr, wirePort)
			srv.expect(t, "listening")
			container := func() string {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.cli, "unshare", "--mount", "--uts", "--propagation", "private",
					probeGoBin, "dial", net.JoinHostPort(serverAddr, wirePort))
				cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: scopeFD}
				out, err := cmd.CombinedOutput()
				got := line(string(out), "conn")
				if err != nil || got == nil {
					t.Fatalf("the container's client: %v\n%s", err, out)
				}
				return fields(got)
			}
			if got := container(); !strings.HasPrefix(got, "ka=0 ") {
				t.Fatalf("control, before the attach: %s, want ka=0", got)
			}
			a := c.in(slice, sliceFD)
			if r := a.ka(t, append(append([]string{"attach"}, attachedSettings...), slice)...); r.status != 0 {
				t.Fatalf("attach %s: %s", slice, r)
			}
			if got := container(); got != wantAttached {
				t.Errorf("the container in %s after attach %s: %s, want %s", scope, tc.slice, got, wantAttached)
			}
			if st := a.status(t); st["CONFIGURED"] != "1" {
				t.Errorf("status of %s: %v, want one connection configured", slice, st)
			}
		})
	}
}
