package hostscan

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// holdVar makes the test binary a child that holds two loopback connections
// (one with keepalive, one without) until its stdin closes.
const holdVar = "HOSTSCAN_TEST_HOLD"

func TestMain(m *testing.M) {
	if os.Getenv(holdVar) != "" {
		hold()
		return
	}
	os.Exit(m.Run())
}

func hold() {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var conns []net.Conn
	for _, ka := range []bool{true, false} {
		d := net.Dialer{KeepAlive: -1}
		c, err := d.Dial("tcp4", l.Addr().String())
		if err != nil {
			panic(err)
		}
		if ka {
			c.(*net.TCPConn).SetKeepAlive(true)
		}
		a, err := l.Accept()
		if err != nil {
			panic(err)
		}
		a.(*net.TCPConn).SetKeepAlive(false)
		conns = append(conns, c, a)
	}
	os.Stdout.WriteString("ready " + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// Scan finds a child process's four connection ends, one with keepalive:
// three at risk, read from the descriptors; with timers, read from the
// kernel's timers, the same.
func TestScan(t *testing.T) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), holdVar+"=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	l, _ := bufio.NewReader(out).ReadString('\n')
	port, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "ready "), "\n"))
	if err != nil {
		t.Fatalf("the child did not start: %q", l)
	}
	for _, timers := range []bool{false, true} {
		h, err := Scan(Options{Timers: timers, Conns: true})
		if err != nil {
			t.Fatal(err)
		}
		var p *Process
		for _, q := range h.Listed {
			if q.PID == cmd.Process.Pid {
				p = q
			}
			if q.PID == os.Getpid() {
				t.Errorf("Scan lists its own process")
			}
		}
		if p == nil {
			t.Fatalf("timers %v: the child %d is not listed (skipped: %v)", timers, cmd.Process.Pid, h.Skipped)
		}
		if p.TCP != 4 || p.Keepalive != 1 || p.AtRisk() != 3 || p.Inferred != timers {
			t.Errorf("timers %v: %+v, want 4 connections, 1 with keepalive, 3 at risk", timers, *p)
		}
		// The three at risk: the two accepted ends (their own port is the
		// listener's) and the dialled one without keepalive, each with the
		// listener's port as its service port.
		listening := h.Listening[p.NetNS]
		accepted := 0
		for _, c := range p.AtRiskConns {
			if c.Accepted(listening) {
				accepted++
			}
			if c.ServicePort(listening) != uint16(port) || c.Local.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("timers %v: connection %v: service port %d, want %d", timers, c, c.ServicePort(listening), port)
			}
		}
		if len(p.AtRiskConns) != 3 || accepted != 2 || !listening[uint16(port)] {
			t.Errorf("timers %v: at risk %v, %d accepted, listening %v; want 3, 2 accepted, %d listening", timers, p.AtRiskConns, accepted, listening, port)
		}
	}
}

func TestTotals(t *testing.T) {
	h := &Host{Listed: []*Process{
		{PID: 1, TCP: 5, Keepalive: 5},
		{PID: 2, TCP: 4, Keepalive: 1, Unknown: 1, Inferred: true},
		{PID: 3, TCP: 3},
	}}
	conns, risky, riskyConns, inferred := h.Totals()
	if conns != 12 || risky != 2 || riskyConns != 5 || inferred != 1 {
		t.Errorf("Totals = %d %d %d %d, want 12 2 5 1", conns, risky, riskyConns, inferred)
	}
}

// A kernel thread is told apart by its flags; this process is not one.
func TestKernelThread(t *testing.T) {
	if kernelThread(os.Getpid()) {
		t.Error("this process is taken for a kernel thread")
	}
	// kthreadd is PID 2 in the initial PID namespace; elsewhere it is not
	// visible, and the case says so.
	comm, err := os.ReadFile("/proc/2/comm")
	if err != nil || string(comm) != "kthreadd\n" {
		t.Logf("no kthreadd at PID 2 in this PID namespace (%q %v): the positive case is not run", comm, err)
		return
	}
	if !kernelThread(2) {
		t.Error("kthreadd is not taken for a kernel thread")
	}
}
