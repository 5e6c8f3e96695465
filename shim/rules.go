// Package shim holds the configuration contract of libkeepalive: which
// variables exist, what they accept, and the message a bad value earns.
//
// The per-socket path of the library is C (see preload/README.md) and parses
// the same variables itself, before the Go runtime is up. The table below is
// the one definition of the rules: shim/cparse/rules.h is generated from it
// (go generate ./shim), and a differential fuzz test holds the C parser to
// the Go one.
package shim

//go:generate go run ./internal/genrules -o cparse/rules.h

// Kind says how a variable's text is read.
type Kind int

const (
	// KindSwitch is an on/off word: on, off, yes, no, true, false, 1, 0 in
	// any ASCII case.
	KindSwitch Kind = iota
	// KindSeconds is a whole number of seconds: a plain number, or a Go
	// duration such as 90s or 2m that is a whole number of seconds.
	KindSeconds
	// KindCount is a plain number.
	KindCount
	// KindMillis is kept in milliseconds: a plain number is seconds, a Go
	// duration (2500ms) must be a whole number of milliseconds.
	KindMillis
	// KindMode is an on/off word, or force (2): keepalive on, and the
	// operator's values kept over the program's own setsockopt calls.
	KindMode
)

// Force is KEEPALIVE=force's value.
const Force = 2

// Rule is one variable of the contract.
type Rule struct {
	Var  string // the environment variable
	Kind Kind
	Min  int64 // in the stored unit: seconds, probes or milliseconds
	Max  int64
	// Want names the accepted values, for messages.
	Want string
	// Instead says what happens when the value is not accepted.
	Instead string
}

// The indexes of Rules, shared with C as KA_VAR_*.
const (
	VarKeepalive = iota
	VarIdle
	VarIntvl
	VarCnt
	VarUserTimeout
	VarDebug
	NumVars
)

// Rules is in the order of the Var* constants. Ranges are the kernel's
// (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT in include/net/tcp.h;
// TCP_USER_TIMEOUT takes a non-negative int of milliseconds).
var Rules = [NumVars]Rule{
	VarKeepalive: {Var: "KEEPALIVE", Kind: KindMode, Min: 0, Max: Force,
		Want:    "on, off or force (on/off, yes/no, true/false, 1/0, force, any case)",
		Instead: "keepalive stays on"},
	VarIdle: {Var: "KEEPIDLE", Kind: KindSeconds, Min: 1, Max: 32767,
		Want:    "whole seconds from 1 to 32767, as a number (600) or a duration (10m)",
		Instead: "keeping the kernel's TCP_KEEPIDLE"},
	VarIntvl: {Var: "KEEPINTVL", Kind: KindSeconds, Min: 1, Max: 32767,
		Want:    "whole seconds from 1 to 32767, as a number (60) or a duration (1m)",
		Instead: "keeping the kernel's TCP_KEEPINTVL"},
	VarCnt: {Var: "KEEPCNT", Kind: KindCount, Min: 1, Max: 127,
		Want:    "a number of probes from 1 to 127",
		Instead: "keeping the kernel's TCP_KEEPCNT"},
	VarUserTimeout: {Var: "KEEPUSERTIMEOUT", Kind: KindMillis, Min: 0, Max: 2147483647,
		Want:    "seconds from 0 to 2147483 as a number (30), or a duration of whole milliseconds up to 2147483647ms (2500ms, 5m); 0 is the kernel's default",
		Instead: "keeping the kernel's TCP_USER_TIMEOUT"},
	VarDebug: {Var: "KEEPALIVE_DEBUG", Kind: KindSwitch, Min: 0, Max: 1,
		Want:    "on or off (on/off, yes/no, true/false, 1/0, any case)",
		Instead: "debug lines stay off"},
}
