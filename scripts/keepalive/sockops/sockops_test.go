package sockops

import (
	"errors"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

func TestAnswersKeepalive(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.10.0-26-amd64", false},
		{"6.0.19", false},
		{"6.1.0-18-amd64", true},
		{"6.12.9+deb13-amd64", true},
		{"6.18.0", true},
		{"7.0", true},
		{"4.19.0-25-amd64", false},
		{"garbage", true},
	} {
		if got := AnswersKeepalive(tc.release); got != tc.want {
			t.Errorf("AnswersKeepalive(%q) = %v, want %v", tc.release, got, tc.want)
		}
	}
}

// Both programs pass this kernel's verifier, as they will when attached;
// a program the verifier refuses is the control, so that passing means
// the verifier ran.
func TestProgramsLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: loading BPF programs needs root (CAP_BPF); the programs were not verified")
	}
	rlimit.RemoveMemlock()
	settings, err := ebpf.NewMap(SettingsSpec())
	if err != nil {
		t.Skipf("SKIPPED LOUDLY: cannot create a BPF map here (%v); the programs were not verified", err)
	}
	defer settings.Close()
	m := Maps{Settings: settings}
	for _, o := range []struct {
		m    **ebpf.Map
		spec *ebpf.MapSpec
	}{{&m.Counters, CountersSpec()}, {&m.Rules, RulesSpec()}, {&m.RuleCounters, RuleCountersSpec()}, {&m.Dests, DestsSpec()}} {
		if *o.m, err = ebpf.NewMap(o.spec); err != nil {
			t.Fatalf("%s: %v", o.spec.Name, err)
		}
		defer (*o.m).Close()
	}
	counters := m.Counters
	progs := map[string]*ebpf.ProgramSpec{"sock_ops": SockOps(m, -1), "setsockopt": Setsockopt(settings, counters)}
	if off, err := SkErrOffset(); err == nil {
		progs["sock_ops counting timeouts"] = SockOps(m, off)
	} else {
		t.Logf("NOT VERIFIED: the sock_ops program that counts timeouts (no kernel BTF here: %v)", err)
	}
	for name, spec := range progs {
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		p.Close()
	}
	bad := SockOps(m, -1)
	bad.Instructions = bad.Instructions[:len(bad.Instructions)-1] // no exit
	var ve *ebpf.VerifierError
	if p, err := ebpf.NewProgram(bad); err == nil || !errors.As(err, &ve) {
		if p != nil {
			p.Close()
		}
		t.Errorf("control: a program without its exit was not refused by the verifier: %v", err)
	}
}
