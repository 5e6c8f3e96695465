// Command keepalive runs a program with libkeepalive preloaded, and shows
// the keepalive state of a running process's TCP sockets.
//
//	keepalive [--idle S] [--interval S] [--count N] [--user-timeout S] [--off] [--debug] [--lib PATH] -- COMMAND [ARG...]
//	keepalive status PID
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/libkeepalive/libkeepalive/shim"
)

const usage = `usage: keepalive [OPTION]... [--] COMMAND [ARG]...
       keepalive status PID

Runs COMMAND with libkeepalive preloaded (prepended to any LD_PRELOAD), so
that its TCP sockets get keepalive. Options set the library's variables:

  --idle S            KEEPIDLE: seconds of silence before the first probe (1-32767; 600 or 10m)
  --interval S        KEEPINTVL: seconds between probes (1-32767)
  --count N           KEEPCNT: unanswered probes before the connection is dropped (1-127)
  --user-timeout S    KEEPUSERTIMEOUT: how long sent data may stay unacknowledged
                      (seconds 0-2147483, or a duration such as 2500ms; 0 = kernel default)
  --off               KEEPALIVE=off: load the library but touch no socket
  --debug             KEEPALIVE_DEBUG=1: one line on stderr per socket configured
  --lib PATH          the library (default: next to this command, or PREFIX/lib)

Variables already in the environment apply unless an option overrides them.

keepalive status PID lists the TCP sockets of a running process with their
keepalive settings and running keepalive timer (needs the right to inspect
the process: its user, or root).
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "status" {
		os.Exit(status(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "cgroup" {
		os.Exit(cgroupMain(os.Args[2:], os.Stdout, os.Stderr))
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
	env := map[string]string{}
	bad := false
	for i, o := range options {
		if !set[o.flag] {
			continue
		}
		r := shim.Rules[o.v]
		_, probs := shim.Load(map[string]string{r.Var: *values[i]})
		if *values[i] == "" {
			fmt.Fprintf(stderr, "keepalive: --%s needs a value: want %s\n", o.flag, r.Want)
			bad = true
			continue
		}
		for _, p := range probs {
			fmt.Fprintf(stderr, "keepalive: --%s %q is %v: want %s\n", o.flag, *values[i], p.Err, r.Want)
			bad = true
		}
		env[r.Var] = *values[i]
	}
	if bad {
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
	path, err := findLib(*lib)
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %v; nothing was run\n", err)
		return 2
	}
	prog, err := exec.LookPath(cmd[0])
	if err != nil {
		fmt.Fprintf(stderr, "keepalive: %s: command not found\n", cmd[0])
		return 127
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

// findLib returns the library: --lib, or next to this command (the build
// tree), or in the lib directory of its prefix.
func findLib(flagLib string) (string, error) {
	if flagLib != "" {
		abs, err := filepath.Abs(flagLib)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("--lib %s: %v", flagLib, errors.Unwrap(err))
		}
		return abs, nil
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("cannot find this command's own path (%v): give --lib", err)
	}
	dir := filepath.Dir(exe)
	candidates := []string{
		filepath.Join(dir, "libkeepalive.so"),
		filepath.Join(dir, "..", "lib", "libkeepalive.so"),
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("no libkeepalive.so in %s or %s: give --lib", dir, filepath.Clean(filepath.Join(dir, "..", "lib")))
}
