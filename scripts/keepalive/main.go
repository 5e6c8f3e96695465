// Command keepalive runs a program with libkeepalive preloaded, says what a
// program started here would get, shows the keepalive state of running
// processes' TCP connections, and gives a cgroup's connections keepalive.
//
//	keepalive [--idle S] [--interval S] [--count N] [--user-timeout S] [--off] [--debug] [--lib PATH] -- COMMAND [ARG...]
//	keepalive check [--config FILE] [--lib PATH] [--to ADDR:PORT]
//	keepalive status [--timers] [--json] [--config FILE] | keepalive status [--json] PID
//	keepalive apply [OPTION]... PID... | UNIT | CGROUP
//	keepalive cgroup attach|detach|status|load|unload ...
//	keepalive metrics [--textfile DIR] [--config FILE]
//	keepalive --version
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/library"
	"github.com/libkeepalive/libkeepalive/shim"
)

// usage takes its ranges from shim's rules, the library's own.
var usage = fmt.Sprintf(`usage: keepalive [OPTION]... [--] COMMAND [ARG]...
       keepalive check [--config FILE] [--lib PATH] [--to ADDR:PORT]
       keepalive status [--timers] [--json] [--config FILE] | keepalive status [--json] PID
       keepalive apply [OPTION]... PID...|UNIT|CGROUP (see keepalive apply --help)
       keepalive cgroup attach|detach|status|load|unload ... (see keepalive cgroup --help)
       keepalive metrics [--textfile DIR] [--config FILE] (see keepalive metrics --help)
       keepalive --version

Runs COMMAND with libkeepalive preloaded (prepended to any LD_PRELOAD), so
that its TCP sockets get keepalive. Options set the library's variables; a
time is a number of seconds or a duration (90s, 10m, 1h30m):

  --idle TIME         KEEPIDLE: silence before the first probe (%ds to %ds)
  --interval TIME     KEEPINTVL: time between probes (%ds to %ds)
  --count N           KEEPCNT: unanswered probes before the connection is dropped (%d-%d)
  --user-timeout TIME KEEPUSERTIMEOUT: how long sent data may stay unacknowledged
                      (%d to %ds; a duration may use ms: 2500ms; 0 = kernel default)
  --off               KEEPALIVE=off: load the library but touch no socket
  --debug             KEEPALIVE_DEBUG=1: one line on stderr per socket configured
  --lib PATH          the library (default: next to this command, or PREFIX/lib);
                      a path with a space or a colon cannot be preloaded
  --help              this text
  --version           the version, and the Go release it was built with

Variables already in the environment apply unless an option overrides them.
Before COMMAND starts, the library is loaded into /bin/true (when COMMAND
uses the same dynamic loader): if the loader refuses it, keepalive says why
and exits 2 without running COMMAND.

keepalive check says what a program started here would get: each setting,
its value and where it comes from (environment, file:line, kernel default),
every problem in the library's own words, and whether the library loads on
this system. Exit status 0 when all is well, 1 otherwise.

keepalive status lists every process you may inspect that holds established
TCP connections: how many, how many have keepalive on, the shortest idle
time, and AT-RISK when some have none (--timers: keepalive read from the
kernel's timers, without duplicating descriptors). When the configuration
file (/etc/keepalive.conf, or --config FILE) holds rules by destination, it
also counts the connections at risk by the rule they fall under. keepalive
status PID shows one process's TCP sockets with their settings and running
timer. Other users' processes need root. --json writes the same as JSON,
with field names that stay (docs/json.md).

keepalive apply gives the connections running processes hold now the
settings, without a restart (see keepalive apply --help).
`, shim.Rules[shim.VarIdle].Min, shim.Rules[shim.VarIdle].Max, shim.Rules[shim.VarIntvl].Min, shim.Rules[shim.VarIntvl].Max,
	shim.Rules[shim.VarCnt].Min, shim.Rules[shim.VarCnt].Max,
	shim.Rules[shim.VarUserTimeout].Min/1000, shim.Rules[shim.VarUserTimeout].Max/1000)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "devel" // a build without the Makefile

// subUsage is each subcommand's --help.
var subUsage = map[string]string{
	"status": statusUsage, "check": checkUsage, "metrics": metricsUsage, "apply": applyUsage, "cgroup": cgroupUsage,
}

// wantsHelp is --help (or -h) among a subcommand's arguments, before any --.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--help", "-help", "-h":
			return true
		}
	}
	return false
}

func main() {
	if len(os.Args) > 1 {
		if u, ok := subUsage[os.Args[1]]; ok && wantsHelp(os.Args[2:]) {
			fmt.Print(u)
			os.Exit(0)
		}
		switch os.Args[1] {
		case "status":
			os.Exit(status(os.Args[2:], os.Stdout, os.Stderr))
		case "check":
			os.Exit(check(os.Args[2:], os.Stdout, os.Stderr))
		case "cgroup":
			os.Exit(cgroupMain(os.Args[2:], os.Stdout, os.Stderr))
		case "apply":
			os.Exit(applyMain(os.Args[2:], os.Stdout, os.Stderr))
		case "metrics":
			os.Exit(metrics(os.Args[2:], os.Stdout, os.Stderr))
		case "version", "--version", "-version":
			fmt.Printf("keepalive %s, built with %s\n", version, runtime.Version())
			os.Exit(0)
		}
	}
	os.Exit(wrap(os.Args[1:], os.Stderr))
}

// option is a flag that sets one of the library's variables.
type option struct {
	flag string
	v    int // index into shim.Rules
}

var options = []option{
	{"idle", shim.VarIdle},
	{"interval", shim.VarIntvl},
	{"count", shim.VarCnt},
	{"user-timeout", shim.VarUserTimeout},
}

// checkOptions checks each option given (set) with the library's rules and
// messages, for the wrapper and the cgroup mode alike: env holds the
// variables they set; ok is false when one is bad (each bad one reported).
func checkOptions(values []*string, set map[string]bool, stderr io.Writer) (env map[string]string, ok bool) {
	env = map[string]string{}
	ok = true
	for i, o := range options {
		if !set[o.flag] {
			continue
		}
		r := shim.Rules[o.v]
		if *values[i] == "" {
			fmt.Fprintf(stderr, "keepalive: --%s needs a value: want %s\n", o.flag, r.Want)
			ok = false
			continue
		}
		_, probs := shim.Load(map[string]string{r.Var: *values[i]})
		for _, p := range probs {
			fmt.Fprintf(stderr, "keepalive: --%s %q is %v: want %s\n", o.flag, *values[i], p.Err, r.Want)
			ok = false
		}
		env[r.Var] = *values[i]
	}
	return env, ok
}

func wrap(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := make([]*string, len(options))
	set := map[string]bool{}
	for i, o := range options {
		values[i] = fs.String(o.flag, "", "")
	}
	off := fs.Bool("off", false, "")
	debug := fs.Bool("debug", false, "")
	lib := fs.String("lib", "", "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "keepalive: %v\n%s", err, usage)
		return 2
	}
	if *help {
		fmt.Print(usage)
		return 0
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	env, ok := checkOptions(values, set, stderr)
	if !ok {
		fmt.Fprintln(stderr, "keepalive: nothing was run")
		return 2
	}
	if *off {
		env["KEEPALIVE"] = "off"
	}
	if *debug {
		env["KEEPALIVE_DEBUG"] = "1"
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		fmt.Fprintf(stderr, "keepalive: no COMMAND given\n%s", usage)
		return 2
	}
	path, err := library.Find(*lib)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %v; nothing was run\n", err)
		return 2
	}
	prog, err := exec.LookPath(cmd[0])
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %s: command not found\n", cmd[0])
		return 127
	}
	// A library the loader refuses would end COMMAND (a daemon, perhaps)
	// with status 127 before its main, or leave it running without
	// keepalive: better to start nothing. The test runs /bin/true, so it
	// speaks for programs of the same loader only: a musl program on a
	// glibc system (or a static one) is started without it.
	if probe := library.TrueProgram(); probe != "" && library.Interpreter(probe) != "" && library.Interpreter(probe) == library.Interpreter(prog) {
		if words := library.Loads(path); words != nil {
			fmt.Fprintf(stderr, "keepalive: the loader refuses %s on this system: %s; nothing was run\n",
				shim.ShowPath(path), strings.Join(words, " / "))
			return 2
		}
	}
	env["LD_PRELOAD"] = prepend(path, os.Getenv("LD_PRELOAD"))
	environ := os.Environ()
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	err = syscall.Exec(prog, cmd, dedupe(environ))
	fmt.Fprintf(stderr, "keepalive: %s: %v\n", cmd[0], err)
	return 126
}

// prepend puts lib first in an LD_PRELOAD list, once.
func prepend(lib, existing string) string {
	parts := []string{lib}
	for _, p := range strings.FieldsFunc(existing, func(r rune) bool { return r == ':' || r == ' ' }) {
		if p != lib {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ":")
}

// dedupe keeps the last value of each variable, in the first one's place.
func dedupe(environ []string) []string {
	last := map[string]string{}
	var order []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = kv
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, last[k])
	}
	return out
}
