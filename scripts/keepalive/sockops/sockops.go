// Package sockops holds the BPF programs of `keepalive cgroup`: a sock_ops
// program that turns keepalive on for every TCP connection of a cgroup as it
// is established, and a cgroup/setsockopt program that, with --force, keeps
// the operator's values when the program later sets its own.
//
// They are written with cilium/ebpf's asm package rather than in C through
// bpf2go: both are a few dozen instructions, and asm needs no clang at build
// time or in CI, no generated object to commit and no test to keep it fresh.
// The verifier checks them when they are loaded, on the kernel that runs them.
package sockops

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Settings is the value of the settings map, shared by both programs; the
// command rewrites it on a repeated attach or load, and programs already
// running see the new values on the next connection.
type Settings struct {
	Flags       uint32 // Force and the Has* bits
	Idle        uint32 // TCP_KEEPIDLE, seconds
	Intvl       uint32 // TCP_KEEPINTVL, seconds
	Cnt         uint32 // TCP_KEEPCNT
	UserTimeout uint32 // TCP_USER_TIMEOUT, milliseconds
}

// Settings.Flags bits. An option whose bit is clear keeps the kernel's value.
const (
	Force = 1 << iota
	HasIdle
	HasIntvl
	HasCnt
	HasUserTimeout
	// CountsTimedOut says the attached program counts TimedOut; the
	// command sets it when the kernel took the program that does
	// (TimedOutProgram), so that status can say "-" rather than 0.
	CountsTimedOut
	// HasDests says the rules map holds rules by destination: the
	// program looks each connection's far end up (rules.go).
	HasDests
	// LeaveAlone, in a rule's settings: KEEPALIVE=off, its connections
	// are left as their program made them.
	LeaveAlone
)

// SettingsSize is the size of Settings in the map.
const SettingsSize = 20

// Marshal is the map value of s.
func (s Settings) Marshal() []byte {
	b := make([]byte, SettingsSize)
	for i, v := range []uint32{s.Flags, s.Idle, s.Intvl, s.Cnt, s.UserTimeout} {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// UnmarshalSettings reads a map value.
func UnmarshalSettings(b []byte) (Settings, error) {
	if len(b) != SettingsSize {
		return Settings{}, fmt.Errorf("settings value of %d bytes, want %d", len(b), SettingsSize)
	}
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(b[4*i:]) }
	return Settings{u(0), u(1), u(2), u(3), u(4)}, nil
}

// The counters, 64-bit each, in the one value of the counters map.
const (
	Configured = iota // connections given the settings
	LeftAlone         // connections whose program had turned keepalive on itself
	Refused           // connections on which the kernel refused an option
	Rewritten         // the program's own setsockopt calls replaced (--force)
	Unanswered        // connections configured without knowing whether their program had turned keepalive on
	TimedOut          // configured connections the kernel closed because probes or the user timeout went unanswered
	NumCounters
)

// CountersSize is the size of the counters map's value.
const CountersSize = 8 * NumCounters

// SettingsSpec and CountersSpec are the maps: one-element arrays, read by
// the programs through direct value access (no lookup call on the
// connection path).
func SettingsSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_settings", Type: ebpf.Array, KeySize: 4, ValueSize: SettingsSize, MaxEntries: 1}
}

func CountersSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{Name: "ka_counters", Type: ebpf.Array, KeySize: 4, ValueSize: CountersSize, MaxEntries: 1}
}

// Kernel constants (include/uapi).
const (
	solSocket      = 1
	soKeepalive    = 9
	solTCP         = 6
	tcpKeepidle    = 4
	tcpKeepintvl   = 5
	tcpKeepcnt     = 6
	tcpUserTimeout = 18
	ipprotoTCP     = 6
	sockStream     = 1

	activeEstablished  = 4  // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
	passiveEstablished = 5  // BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB
	stateCB            = 10 // BPF_SOCK_OPS_STATE_CB: args[0] old state, args[1] new
	stateCBFlag        = 4  // BPF_SOCK_OPS_STATE_CB_FLAG
	tcpClose           = 7  // TCP_CLOSE
	etimedout          = 110

	afInet6 = 10

	// struct bpf_sock_ops (uapi, stable)
	sockOpsOp         = 0
	sockOpsArg1       = 8 // args[1]
	sockOpsFamily     = 20
	sockOpsRemoteIP4  = 24  // network order
	sockOpsRemoteIP6  = 32  // four words, network order
	sockOpsRemotePort = 64  // network order, in the upper half on little-endian machines
	sockOpsLocalPort  = 68  // host order
	sockOpsCbFlags    = 84  // bpf_sock_ops_cb_flags
	sockOpsSk         = 184 // sk, Linux 5.10
	// struct bpf_sockopt
	sockoptSk        = 0
	sockoptOptval    = 8
	sockoptOptvalEnd = 16
	sockoptLevel     = 24
	sockoptOptname   = 28
	sockoptOptlen    = 32
	// struct bpf_sock
	sockType     = 8
	sockProtocol = 12
)

// tcpOption is one of the options the settings carry, besides SO_KEEPALIVE.
type tcpOption struct {
	name   int32 // TCP_*
	flag   int32 // Has* bit
	offset int16 // in Settings
}

var tcpOptions = []tcpOption{
	{tcpKeepidle, HasIdle, 4},
	{tcpKeepintvl, HasIntvl, 8},
	{tcpKeepcnt, HasCnt, 12},
	{tcpUserTimeout, HasUserTimeout, 16},
}

const license = "Dual MIT/GPL"

// count adds one to counter c. Clobbers R1 and R2.
func count(counters *ebpf.Map, c int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapValue(asm.R1, counters.FD(), uint32(8*c)),
		asm.Mov.Imm(asm.R2, 1),
		asm.StoreXAdd(asm.R1, asm.R2, asm.DWord),
	}
}

// SkErrOffset is the offset of sk_err in the kernel's struct sock, from its
// BTF (/sys/kernel/btf/vmlinux); an error where the kernel has none.
func SkErrOffset() (int, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return -1, err
	}
	var sock *btf.Struct
	if err := spec.TypeByName("sock", &sock); err != nil {
		return -1, err
	}
	if off, ok := memberOffset(sock, "sk_err"); ok {
		return off, nil
	}
	return -1, errors.New("struct sock has no sk_err in the kernel's BTF")
}

// memberOffset finds a member by name, in anonymous members too, in bytes.
func memberOffset(t btf.Type, name string) (int, bool) {
	var members []btf.Member
	switch s := t.(type) {
	case *btf.Struct:
		members = s.Members
	case *btf.Union:
		members = s.Members
	default:
		return 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return int(m.Offset.Bytes()), true
		}
		if m.Name == "" {
			if off, ok := memberOffset(btf.UnderlyingType(m.Type), name); ok {
				return int(m.Offset.Bytes()) + off, true
			}
		}
	}
	return 0, false
}

// AnswersKeepalive tells whether a kernel, by its release, answers a
// sock_ops program's bpf_getsockopt(SOL_SOCKET, SO_KEEPALIVE): from 6.1
// (the SOL_SOCKET options of bpf_getsockopt came with it). Before that the
// program cannot see that a connection's program turned keepalive on
// before connect, and gives it the settings too, as --force would.
func AnswersKeepalive(release string) bool {
	var major, minor int
	if n, _ := fmt.Sscanf(release, "%d.%d", &major, &minor); n != 2 {
		return true // not a release we can read: say nothing
	}
	return major > 6 || major == 6 && minor >= 1
}

// Maps are the maps the sock_ops program reads and counts in.
type Maps struct {
	Settings, Counters  *ebpf.Map
	Rules, RuleCounters *ebpf.Map // rules by destination (rules.go)
	Dests               *ebpf.Map // their networks' trie
}

// SockOps is the sock_ops program. On an established connection, active or
// passive, it sets SO_KEEPALIVE and the options the settings hold, unless
// the connection already has SO_KEEPALIVE on (the program turned it on before
// connect, or its listener had it) and Force is clear. The callback runs
// before connect() or accept() returns, so a program's own setsockopt after
// that wins anyway; only the setsockopt program below changes that.
//
// With rules by destination (HasDests), the settings are those of the first
// rule for the far end and the service port (the peer's on a connection the
// program made, its own on one it accepted), or the default's; a rule with
// LeaveAlone leaves the connection be. Each connection is also counted in
// its rule's counters.
//
// With skErr >= 0 (the offset of sk_err in struct sock, from the kernel's
// BTF: TimedOutProgram) it also asks for the connection's state changes and
// counts TimedOut when one it configured is closed with ETIMEDOUT: what
// tcp_write_err leaves when keepalive probes or the user timeout (or the
// retransmissions) went unanswered; a reset or a close leaves another
// error or none.
func SockOps(m Maps, skErr int) *ebpf.ProgramSpec {
	const (
		ctx    = asm.R6
		cfg    = asm.R7
		flags  = asm.R8
		failed = asm.R9
		slot   = -8  // an int on the stack for getsockopt/setsockopt
		ruleAt = -16 // the connection's rule counters, a pointer
	)
	call := func(level, name int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, ctx),
			asm.Mov.Imm(asm.R2, level),
			asm.Mov.Imm(asm.R3, name),
			asm.Mov.Reg(asm.R4, asm.RFP),
			asm.Add.Imm(asm.R4, slot),
			asm.Mov.Imm(asm.R5, 4),
		}
	}
	// counted adds one to counter c in the totals and in the connection's
	// rule's counters. Clobbers R1 and R2.
	counted := func(c int) asm.Instructions {
		return append(count(m.Counters, c),
			asm.LoadMem(asm.R1, asm.RFP, ruleAt, asm.DWord),
			asm.Add.Imm(asm.R1, int32(8*c)),
			asm.Mov.Imm(asm.R2, 1),
			asm.StoreXAdd(asm.R1, asm.R2, asm.DWord),
		)
	}
	insns := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
		asm.LoadMem(asm.R2, ctx, sockOpsOp, asm.Word),
		asm.JEq.Imm(asm.R2, activeEstablished, "established"),
		asm.JEq.Imm(asm.R2, passiveEstablished, "established"),
		asm.JNE.Imm(asm.R2, stateCB, "out"),
		asm.Ja.Label("state"),
		asm.LoadMapValue(cfg, m.Settings.FD(), 0).WithSymbol("established"),
		asm.LoadMem(flags, cfg, 0, asm.Word),
		asm.LoadMapValue(asm.R1, m.RuleCounters.FD(), Default*CountersSize),
		asm.StoreMem(asm.RFP, ruleAt, asm.R1, asm.DWord),
		asm.JSet.Imm(flags, HasDests, "dests"),
		asm.Ja.Label("chosen"),
	}
	insns = append(insns, choose(m, ctx, cfg, ruleAt)...)
	insns = append(insns,
		asm.LoadMem(flags, cfg, 0, asm.Word).WithSymbol("chosen"),
		asm.JSet.Imm(flags, LeaveAlone, "alone"),
		asm.Mov.Imm(failed, 0),
		asm.JSet.Imm(flags, Force, "set"),
		// Without Force, a connection that has keepalive on is the program's.
		// A kernel that cannot answer (bpf_getsockopt(SO_KEEPALIVE) is
		// recent) gets the settings, as if keepalive were off.
		asm.StoreImm(asm.RFP, slot, 0, asm.Word),
	)
	insns = append(insns, call(solSocket, soKeepalive)...)
	insns = append(insns,
		asm.FnGetsockopt.Call(),
		asm.JNE.Imm(asm.R0, 0, "unanswered"),
		asm.LoadMem(asm.R1, asm.RFP, slot, asm.Word),
		asm.JEq.Imm(asm.R1, 0, "set"),
	)
	insns = append(insns, counted(LeftAlone)...)
	insns = append(insns,
		asm.Ja.Label("out"),
	)
	// Counted, so that status tells from the kernel's own answer, not from
	// its version, which connections were configured unasked; then on to
	// the settings.
	u := counted(Unanswered)
	u[0] = u[0].WithSymbol("unanswered")
	insns = append(insns, u...)
	// The TCP options first and SO_KEEPALIVE last: with keepalive still
	// off, setting TCP_KEEPIDLE does not re-arm the keepalive timer, so
	// the timer is armed once, by SO_KEEPALIVE, with the new idle time.
	next := "set"
	for i, o := range tcpOptions {
		label := next
		next = fmt.Sprintf("tcp%d", i+1)
		insns = append(insns,
			asm.Mov.Reg(asm.R1, flags).WithSymbol(label),
			asm.And.Imm(asm.R1, o.flag),
			asm.JEq.Imm(asm.R1, 0, next),
			asm.LoadMem(asm.R1, cfg, o.offset, asm.Word),
			asm.StoreMem(asm.RFP, slot, asm.R1, asm.Word),
		)
		insns = append(insns, call(solTCP, o.name)...)
		insns = append(insns,
			asm.FnSetsockopt.Call(),
			asm.JEq.Imm(asm.R0, 0, next),
			asm.Mov.Imm(failed, 1),
		)
	}
	insns = append(insns, asm.StoreImm(asm.RFP, slot, 1, asm.Word).WithSymbol(next))
	insns = append(insns, call(solSocket, soKeepalive)...)
	insns = append(insns,
		asm.FnSetsockopt.Call(),
		asm.JEq.Imm(asm.R0, 0, "done"),
		asm.Mov.Imm(failed, 1),
	)
	insns = append(insns, asm.JEq.Imm(failed, 0, "configured").WithSymbol("done"))
	insns = append(insns, counted(Refused)...)
	insns = append(insns, asm.Ja.Label("out"))
	// A rule's KEEPALIVE=off: counted in the rule's LeftAlone only, the
	// totals' counting the programs that turned keepalive on themselves.
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, ruleAt, asm.DWord).WithSymbol("alone"),
		asm.Add.Imm(asm.R1, int32(8*LeftAlone)),
		asm.Mov.Imm(asm.R2, 1),
		asm.StoreXAdd(asm.R1, asm.R2, asm.DWord),
		asm.Ja.Label("out"),
	)
	c := counted(Configured)
	c[0] = c[0].WithSymbol("configured")
	insns = append(insns, c...)
	if skErr >= 0 {
		// Ask for this connection's state changes, keeping any flags
		// another program of the cgroup asked for.
		insns = append(insns,
			asm.LoadMem(asm.R2, ctx, sockOpsCbFlags, asm.Word),
			asm.Or.Imm(asm.R2, stateCBFlag),
			asm.Mov.Reg(asm.R1, ctx),
			asm.FnSockOpsCbFlagsSet.Call(),
		)
	}
	insns = append(insns, asm.Ja.Label("out"))
	// A state change: only for connections configured above, which asked.
	state := asm.Instructions{asm.LoadMem(asm.R2, ctx, sockOpsArg1, asm.Word).WithSymbol("state")}
	if skErr >= 0 {
		state = append(state,
			asm.JNE.Imm(asm.R2, tcpClose, "out"),
			asm.LoadMem(asm.R1, ctx, sockOpsSk, asm.DWord),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.FnSkcToTcpSock.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadMem(asm.R1, asm.R0, int16(skErr), asm.Word),
			asm.JNE.Imm(asm.R1, etimedout, "out"),
		)
		state = append(state, count(m.Counters, TimedOut)...)
	}
	insns = append(insns, state...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	)
	return &ebpf.ProgramSpec{
		Name:         "keepalive_ops",
		Type:         ebpf.SockOps,
		AttachType:   ebpf.AttachCGroupSockOps,
		Instructions: insns,
		License:      license,
	}
}

// choose, from label "dests", finds the connection's rule: it looks the far
// end up in the trie, which gives the rules whose network holds it, and
// takes the first of them whose port range holds the service port. It
// leaves cfg at that rule's settings (the default's when none) and the
// rule's counters at ruleAt on the stack, and goes on to "chosen".
//
// The rules are checked by code unrolled MaxRules times rather than by a
// loop: every kernel's verifier takes it, with no bounded-loop support.
func choose(m Maps, ctx, cfg asm.Register, ruleAt int16) asm.Instructions {
	const (
		mask = asm.R8
		port = asm.R9
		key  = -40 // the trie key, TrieKeySize bytes, below ruleAt
	)
	// ::ffff:0:0/96, the third word of an IPv4-mapped address as loaded.
	mapped := int32(binary.NativeEndian.Uint32([]byte{0, 0, 0xff, 0xff}))
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, ctx, sockOpsFamily, asm.Word).WithSymbol("dests"),
		asm.JEq.Imm(asm.R2, afInet6, "v6"),
		asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP4, asm.Word),
		// An IPv4 address (R1) is looked up as family 4, its 32 bits.
		asm.StoreImm(asm.RFP, key, 32+32, asm.Word).WithSymbol("v4"),
		asm.StoreImm(asm.RFP, key+4, 4, asm.Word),
		asm.StoreMem(asm.RFP, key+8, asm.R1, asm.Word),
		asm.StoreImm(asm.RFP, key+12, 0, asm.Word),
		asm.StoreImm(asm.RFP, key+16, 0, asm.Word),
		asm.StoreImm(asm.RFP, key+20, 0, asm.Word),
		asm.Ja.Label("lookup"),
		// An IPv6 socket's IPv4 peer (::ffff:a.b.c.d) is an IPv4 one.
		asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP6, asm.Word).WithSymbol("v6"),
		asm.JNE.Imm(asm.R1, 0, "v6full"),
		asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP6+4, asm.Word),
		asm.JNE.Imm(asm.R1, 0, "v6full"),
		asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP6+8, asm.Word),
		asm.JNE.Imm32(asm.R1, mapped, "v6full"),
		asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP6+12, asm.Word),
		asm.Ja.Label("v4"),
		asm.StoreImm(asm.RFP, key, 32+128, asm.Word).WithSymbol("v6full"),
		asm.StoreImm(asm.RFP, key+4, 6, asm.Word),
	}
	for w := int16(0); w < 4; w++ {
		insns = append(insns,
			asm.LoadMem(asm.R1, ctx, sockOpsRemoteIP6+4*w, asm.Word),
			asm.StoreMem(asm.RFP, key+8+4*w, asm.R1, asm.Word),
		)
	}
	insns = append(insns,
		asm.LoadMapPtr(asm.R1, m.Dests.FD()).WithSymbol("lookup"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, key),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Imm(mask, 0),
		asm.JEq.Imm(asm.R0, 0, "port"),
		asm.LoadMem(mask, asm.R0, 0, asm.DWord),
		// The service port: the peer's when the program connected, its
		// own when it accepted.
		asm.LoadMem(port, ctx, sockOpsLocalPort, asm.Word).WithSymbol("port"),
		asm.LoadMem(asm.R2, ctx, sockOpsOp, asm.Word),
		asm.JNE.Imm(asm.R2, activeEstablished, "rule0"),
		asm.LoadMem(port, ctx, sockOpsRemotePort, asm.Word),
		asm.HostTo(asm.BE, port, asm.Word),
	)
	base := cfg
	insns = append(insns, asm.LoadMapValue(base, m.Rules.FD(), 0).WithSymbol("rule0"))
	// Rule i: in the trie's set, and its port range (PortHi 0: every
	// port) holds the port.
	for i := range MaxRules {
		next := fmt.Sprintf("rule%d", i+1)
		found := fmt.Sprintf("found%d", i)
		at := int16(i * RuleSize)
		first := asm.Mov.Reg(asm.R1, mask)
		if i > 0 {
			first = first.WithSymbol(fmt.Sprintf("rule%d", i))
		}
		insns = append(insns,
			first,
			asm.RSh.Imm(asm.R1, int32(i)),
			asm.And.Imm(asm.R1, 1),
			asm.JEq.Imm(asm.R1, 0, next),
			asm.LoadMem(asm.R2, base, at+rulePortHi, asm.Half),
			asm.JEq.Imm(asm.R2, 0, found),
			asm.JGT.Reg(port, asm.R2, next),
			asm.LoadMem(asm.R2, base, at+rulePortLo, asm.Half),
			asm.JLT.Reg(port, asm.R2, next),
			asm.LoadMapValue(cfg, m.Rules.FD(), uint32(i*RuleSize)).WithSymbol(found),
			asm.LoadMapValue(asm.R1, m.RuleCounters.FD(), uint32(i*CountersSize)),
			asm.StoreMem(asm.RFP, ruleAt, asm.R1, asm.DWord),
			asm.Ja.Label("chosen"),
		)
	}
	// No rule: the default, whose counters are at ruleAt already.
	insns = append(insns, asm.LoadMapValue(cfg, m.Settings.FD(), 0).WithSymbol(fmt.Sprintf("rule%d", MaxRules)),
		asm.Ja.Label("chosen"))
	return insns
}

// Setsockopt is the cgroup/setsockopt program for --force: a TCP stream
// socket's setsockopt of SO_KEEPALIVE or of an option the settings hold gets
// the operator's value instead of the program's, and the call succeeds as
// the program expects. Sockets of other kinds, other options, and every call
// while Force is clear in the settings pass unchanged.
func Setsockopt(settings, counters *ebpf.Map) *ebpf.ProgramSpec {
	const (
		ctx   = asm.R6
		cfg   = asm.R7
		flags = asm.R8
		value = asm.R9
	)
	insns := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
		asm.LoadMapValue(cfg, settings.FD(), 0),
		asm.LoadMem(flags, cfg, 0, asm.Word),
		asm.JSet.Imm(flags, Force, "forced"),
		asm.Ja.Label("out"),
		asm.LoadMem(asm.R1, ctx, sockoptSk, asm.DWord).WithSymbol("forced"),
		asm.LoadMem(asm.R2, asm.R1, sockProtocol, asm.Word),
		asm.JNE.Imm(asm.R2, ipprotoTCP, "out"),
		asm.LoadMem(asm.R2, asm.R1, sockType, asm.Word),
		asm.JNE.Imm(asm.R2, sockStream, "out"),
		asm.LoadMem(asm.R2, ctx, sockoptLevel, asm.Word),
		asm.LoadMem(asm.R3, ctx, sockoptOptname, asm.Word),
		asm.JNE.Imm(asm.R2, solSocket, "tcp"),
		asm.JNE.Imm(asm.R3, soKeepalive, "out"),
		asm.Mov.Imm(value, 1),
		asm.Ja.Label("rewrite"),
		asm.JNE.Imm(asm.R2, solTCP, "out").WithSymbol("tcp"),
	}
	for i, o := range tcpOptions {
		next := fmt.Sprintf("opt%d", i+1)
		insns = append(insns,
			asm.JNE.Imm(asm.R3, o.name, next),
			asm.Mov.Reg(asm.R1, flags),
			asm.And.Imm(asm.R1, o.flag),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.LoadMem(value, cfg, o.offset, asm.Word),
			asm.Ja.Label("rewrite"),
		)
		insns[len(insns)-6] = insns[len(insns)-6].WithSymbol(fmt.Sprintf("opt%d", i))
	}
	// The first option's check carries label opt0, which nothing jumps to;
	// an option not in the list ends at optN.
	insns = append(insns,
		asm.Ja.Label("out").WithSymbol(fmt.Sprintf("opt%d", len(tcpOptions))),
		// A call shorter than an int fails in the kernel; it stays the
		// program's, error included.
		asm.LoadMem(asm.R2, ctx, sockoptOptlen, asm.Word).WithSymbol("rewrite"),
		asm.JSLT.Imm32(asm.R2, 4, "out"),
		// The kernel's buffer holds at least 16 bytes (max(16, optlen)), but
		// the verifier only knows optval_end.
		asm.LoadMem(asm.R2, ctx, sockoptOptval, asm.DWord),
		asm.LoadMem(asm.R3, ctx, sockoptOptvalEnd, asm.DWord),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 4),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R5, asm.R2, 0, asm.Word),
		asm.StoreMem(asm.R2, 0, value, asm.Word),
		asm.Mov.Imm(asm.R1, 4),
		asm.StoreMem(ctx, sockoptOptlen, asm.R1, asm.Word), // the verifier refuses BPF_ST into the context
		asm.JEq.Reg(asm.R5, value, "out"),
	)
	insns = append(insns, count(counters, Rewritten)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 1).WithSymbol("out"),
		asm.Return(),
	)
	return &ebpf.ProgramSpec{
		Name:         "keepalive_sopt",
		Type:         ebpf.CGroupSockopt,
		AttachType:   ebpf.AttachCGroupSetsockopt,
		Instructions: insns,
		License:      license,
	}
}
