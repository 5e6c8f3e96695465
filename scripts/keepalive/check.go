package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/library"
	"github.com/libkeepalive/libkeepalive/shim"
)

// kernelDefaults are the sysctls a socket's keepalive options start from,
// per network namespace; TCP_USER_TIMEOUT has none (0: the kernel decides).
var kernelDefaults = map[int]string{
	shim.VarIdle:  "/proc/sys/net/ipv4/tcp_keepalive_time",
	shim.VarIntvl: "/proc/sys/net/ipv4/tcp_keepalive_intvl",
	shim.VarCnt:   "/proc/sys/net/ipv4/tcp_keepalive_probes",
}

// check says what a program started here, with this environment, would get
// from the library, without running anything but the load test.
const checkUsage = `usage: keepalive check [--config FILE] [--lib PATH] [--to ADDR:PORT]

Says what a program started here would get: each setting, its value and
where it comes from (environment, file:line, kernel default), every problem
in the library's own words, what the cgroup mode would apply, and whether
the library loads on this system. Exit status 0 when all is well, 1
otherwise, 2 for a bad option.

  --config FILE  read FILE as KEEPALIVE_CONFIG would (default: KEEPALIVE_CONFIG
                 or /etc/keepalive.conf)
  --lib PATH     the library to try (default: next to this command, or PREFIX/lib)
  --to ADDR:PORT which rule by destination a connection to ADDR:PORT gets, and
                 its settings (for a server's connection: the client's address
                 and the server's port); [ADDR]:PORT for IPv6
`

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keepalive check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := fs.String("config", "", "")
	lib := fs.String("lib", "", "")
	to := fs.String("to", "", "")
	err := fs.Parse(args)
	var dest netip.AddrPort
	if err == nil && *to != "" {
		if dest, err = netip.ParseAddrPort(*to); err != nil || dest.Port() == 0 || dest.Addr().Zone() != "" {
			err = fmt.Errorf("--to %s is not an address and port: want ADDR:PORT, with a port from 1 to 65535 (10.20.0.5:5432, [2001:db8::5]:443)", shim.Quote(*to))
		}
	}
	if err != nil || fs.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %s", shim.Quote(fs.Arg(0)))
		}
		fmt.Fprintf(stderr, "keepalive check: %v\n%s", err, checkUsage)
		return 2
	}
	libPath, libErr := library.Find(*lib)
	if errors.As(libErr, new(library.Unpreloadable)) {
		fmt.Fprintf(stderr, "keepalive check: %v\n", libErr)
		return 2
	}
	environ := map[string]string{}
	for _, r := range shim.Rules {
		environ[r.Var] = os.Getenv(r.Var)
	}
	// The library's choice of file: KEEPALIVE_CONFIG when set and not
	// empty, which makes a missing file worth a line; else the default.
	path, named, how := shim.DefaultFile, false, "the default"
	if v := os.Getenv(shim.ConfigVar); v != "" {
		path, named, how = v, true, shim.ConfigVar
	}
	if *config != "" {
		path, named, how = *config, true, "--config"
	}
	file := shim.ReadFile(path, named) // as the library reads it
	c, probs := shim.LoadWith(environ, file)

	fmt.Fprintf(stdout, "configuration file: %s (%s)", shim.ShowPath(path), how)
	if st, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprint(stdout, ": absent")
	} else if err != nil || !st.Mode().IsRegular() {
		fmt.Fprint(stdout, ": not read")
	}
	fmt.Fprintln(stdout)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SETTING\tVALUE\tFROM")
	settings := c.Settings()
	for i, r := range shim.Rules {
		value, from := "", ""
		switch {
		case environ[r.Var] != "":
			from = "environment"
		case file.Values[r.Var] != "":
			from = fmt.Sprintf("%s:%d", shim.ShowPath(path), file.Line(r.Var))
		}
		if settings[i].Set {
			value = show(i, settings[i].Value)
		} else {
			refused := from
			value, from = fallback(i)
			if refused != "" {
				from += "; " + refused + " gave a value that is refused (below)"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Var, value, from)
	}
	if len(file.Exclude) > 0 {
		fmt.Fprintf(w, "%s\t%s\t%s:%d\n", shim.ExcludeVar, shim.Quote(strings.Join(file.Exclude, " ")),
			shim.ShowPath(path), file.Line(shim.ExcludeVar))
	}
	w.Flush()
	if !c.Enabled() {
		fmt.Fprintln(stdout, "KEEPALIVE is off: the library loads but touches no socket")
	}
	printDests(stdout, file, c)
	if dest.IsValid() {
		fmt.Fprintf(stdout, "a connection to %s ", dest)
		switch i := file.Match(dest.Addr(), dest.Port()); {
		case !c.Enabled():
			fmt.Fprintln(stdout, "is left alone: KEEPALIVE is off")
		case i < 0:
			fmt.Fprintf(stdout, "matches no rule: it gets %s\n", gives(c))
		case file.Dests[i].LeavesAlone():
			fmt.Fprintf(stdout, "gets the rule of line %d (%s): it is left alone\n", file.Dests[i].Line, file.Dests[i])
		default:
			fmt.Fprintf(stdout, "gets the rule of line %d (%s): %s\n", file.Dests[i].Line, file.Dests[i], gives(file.Dests[i].Over(c)))
		}
	}
	// The cgroup mode reads the file only, never the environment, and
	// only --config's or the default.
	cgPath, cgNamed, how := shim.DefaultFile, false, "keepalive cgroup attach with no option"
	if *config != "" {
		cgPath, cgNamed, how = *config, true, "keepalive cgroup attach --config "+shim.ShowPath(*config)
	}
	if cf := readCgroupFile(cgPath, cgNamed, "the cgroup mode"); len(cf.refused) > 0 {
		fmt.Fprintf(stdout, "cgroup mode: %s would refuse %s:\n", how, shim.ShowPath(cgPath))
		for _, l := range cf.refused {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
	} else if n := len(cf.dests); n > 0 && cf.force {
		fmt.Fprintf(stdout, "cgroup mode: %s would refuse %s: KEEPALIVE=force and its %d rule(s) by destination cannot be combined there\n",
			how, shim.ShowPath(cgPath), n)
	} else {
		what := describe(settingsOf(cf.env, cf.force))
		if n > 0 {
			what = fmt.Sprintf("its %d rule(s) by destination first, else %s", n, what)
		}
		fmt.Fprintf(stdout, "cgroup mode: %s would apply %s (from %s alone: the environment does not count there)\n",
			how, what, shim.ShowPath(cgPath))
	}
	bad := false
	if len(probs) > 0 {
		bad = true
		fmt.Fprintf(stdout, "\n%d problem(s), as the library reports them:\n", len(probs))
		for _, p := range probs {
			fmt.Fprintln(stdout, p.Message())
		}
	}
	fmt.Fprintln(stdout)
	if libErr != nil {
		fmt.Fprintf(stdout, "library: %v\n", libErr)
		return 1
	}
	prog := library.TrueProgram()
	if prog == "" {
		fmt.Fprintf(stdout, "library: %s: whether it loads is not known, as there is no /bin/true to try it with\n", shim.ShowPath(libPath))
		return 1
	}
	if library.BuiltForMusl(libPath) && !strings.Contains(library.Interpreter(prog), "ld-musl") {
		fmt.Fprintf(stdout, "library: %s is built for musl: it loads into musl programs, which this system's %s (loader %s) is not, so it was not tried\n",
			shim.ShowPath(libPath), prog, library.Interpreter(prog))
		if bad {
			return 1
		}
		return 0
	}
	if words := library.Loads(libPath); words != nil {
		fmt.Fprintf(stdout, "library: %s does not load on this system; the loader says:\n", shim.ShowPath(libPath))
		for _, l := range words {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
		return 1
	}
	fmt.Fprintf(stdout, "library: %s loads on this system (%s ran under it)\n", shim.ShowPath(libPath), prog)
	if bad {
		return 1
	}
	return 0
}

// printDests lists the rules by destination the library read, in order,
// with what each gives.
func printDests(stdout io.Writer, file shim.File, c shim.Config) {
	if len(file.Dests) == 0 {
		return
	}
	fmt.Fprintf(stdout, "rules by destination, the first that matches a connection applies; the others get the settings above:\n")
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  LINE\tRULE\tGIVES")
	for _, d := range file.Dests {
		what := "left alone"
		switch {
		case !c.Enabled():
			what = "left alone: KEEPALIVE is off, which no rule turns on"
		case !d.LeavesAlone():
			what = gives(d.Over(c))
		}
		fmt.Fprintf(w, "  %s:%d\t%s\t%s\n", shim.ShowPath(file.Path), d.Line, d, what)
	}
	w.Flush()
}

// gives is the keepalive a connection with settings c gets, each timer
// with its unit, or the kernel's.
func gives(c shim.Config) string {
	settings := c.Settings()
	parts := []string{"SO_KEEPALIVE on"}
	for _, v := range []int{shim.VarIdle, shim.VarIntvl, shim.VarCnt, shim.VarUserTimeout} {
		value := ""
		if settings[v].Set {
			value = show(v, settings[v].Value)
		} else {
			value, _ = fallback(v)
			value += " (kernel)"
		}
		parts = append(parts, shim.Rules[v].Var+"="+value)
	}
	return strings.Join(parts, " ")
}

// show is a setting's value in its unit.
func show(v int, x int64) string {
	switch shim.Rules[v].Kind {
	case shim.KindSwitch, shim.KindMode:
		switch x {
		case 0:
			return "off"
		case shim.Force:
			return "force"
		}
		return "on"
	case shim.KindSeconds:
		return strconv.FormatInt(x, 10) + "s"
	case shim.KindMillis:
		return strconv.FormatInt(x, 10) + "ms"
	}
	return strconv.FormatInt(x, 10)
}

// fallback is what an unset (or refused) variable leaves: the kernel's
// value, or the library's default for its switches.
func fallback(v int) (value, from string) {
	switch v {
	case shim.VarKeepalive:
		return "on", "default"
	case shim.VarDebug:
		return "off", "default"
	case shim.VarUserTimeout:
		return "0ms", "kernel default (the retransmission limits decide)"
	}
	sysctl := kernelDefaults[v]
	text, err := os.ReadFile(sysctl)
	n, perr := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
	if err != nil || perr != nil {
		return "?", "kernel default (" + sysctl + " unreadable)"
	}
	return show(v, n), "kernel default (" + sysctl + ")"
}
