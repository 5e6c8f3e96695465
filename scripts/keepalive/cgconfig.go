package main

import (
	"flag"
	"fmt"
	"io"
	"maps"

	"github.com/libkeepalive/libkeepalive/scripts/keepalive/sockops"
	"github.com/libkeepalive/libkeepalive/shim"
)

// cgroupFile is what a configuration file gives the cgroup mode: the file
// the library reads, with the library's reader and messages, so that one
// file can hold a host's policy for both modes.
type cgroupFile struct {
	path    string
	env     map[string]string // the settings it sets, as the environment would hold them
	force   bool              // KEEPALIVE=force
	refused []string          // lines that refuse the attach: the library's problems, KEEPALIVE=off
	notes   []string          // keys the cgroup mode has no use for
	dests   []shim.Dest       // the rules by destination, in order
}

// cgroupKeys are the settings a file gives the cgroup mode.
var cgroupKeys = []int{shim.VarIdle, shim.VarIntvl, shim.VarCnt, shim.VarUserTimeout}

// readCgroupFile reads path as the library does, for mode (the cgroup
// mode, keepalive apply); named says the operator gave it (--config),
// which makes a missing file a problem.
func readCgroupFile(path string, named bool, mode string) cgroupFile {
	f := shim.ReadFile(path, named)
	cf := cgroupFile{path: path, env: map[string]string{}, dests: f.Dests}
	for _, p := range f.Problems {
		cf.refused = append(cf.refused, p.Message())
	}
	where := func(key string) string { return fmt.Sprintf("%s:%d", shim.ShowPath(path), f.Line(key)) }
	for _, v := range cgroupKeys {
		if x := f.Values[shim.Rules[v].Var]; x != "" {
			cf.env[shim.Rules[v].Var] = x
		}
	}
	if x := f.Values[shim.Rules[shim.VarKeepalive].Var]; x != "" {
		c, probs := shim.Load(map[string]string{shim.Rules[shim.VarKeepalive].Var: x})
		switch {
		case len(probs) > 0: // already in refused, from the file's problems
		case c.Forced():
			cf.force = true
		case !c.Enabled():
			cf.refused = append(cf.refused, fmt.Sprintf("keepalive: %s: KEEPALIVE=%s means no keepalive, and %s "+
				"has nothing to give for it: remove the line", where("KEEPALIVE"), shim.Quote(x), mode))
		}
	}
	if f.Values[shim.Rules[shim.VarDebug].Var] != "" {
		cf.notes = append(cf.notes, fmt.Sprintf("keepalive: note: %s: KEEPALIVE_DEBUG is the library's; %s "+
			"counts connections instead", where("KEEPALIVE_DEBUG"), mode))
	}
	if len(f.Exclude) > 0 {
		cf.notes = append(cf.notes, fmt.Sprintf("keepalive: note: %s: %s is the library's; with %s every program "+
			"gets the settings", where(shim.ExcludeVar), shim.ExcludeVar, mode))
	}
	return cf
}

// cgroupFileFor is the file an attach or load reads: --config FILE when
// given, or the library's own /etc/keepalive.conf when nothing else says
// what to apply (bare), so that a host has one policy for both modes;
// none otherwise. ok is false when the file refuses the attach (each
// reason already said); its notes are said too.
func cgroupFileFor(given bool, path string, bare bool, mode string, stderr io.Writer) (file *cgroupFile, ok bool) {
	if !given && !bare {
		return nil, true
	}
	if !given {
		path = shim.DefaultFile
	}
	cf := readCgroupFile(path, given, mode)
	for _, l := range cf.refused {
		fmt.Fprintln(stderr, l)
	}
	if len(cf.refused) > 0 {
		return nil, false
	}
	for _, l := range cf.notes {
		fmt.Fprintln(stderr, l)
	}
	return &cf, true
}

// settingsOf turns checked variables into the programs' settings.
func settingsOf(env map[string]string, force bool) sockops.Settings {
	c, _ := shim.Load(env)
	return settingsFrom(c, force)
}

// settingsFrom turns a checked configuration into the programs' settings.
func settingsFrom(c shim.Config, force bool) sockops.Settings {
	var s sockops.Settings
	put := func(st shim.Setting, flag uint32, to *uint32) {
		if st.Set {
			s.Flags |= flag
			*to = uint32(st.Value)
		}
	}
	put(c.Idle.Setting, sockops.HasIdle, &s.Idle)
	put(c.Intvl.Setting, sockops.HasIntvl, &s.Intvl)
	put(c.Cnt.Setting, sockops.HasCnt, &s.Cnt)
	put(c.UserTimeout.Setting, sockops.HasUserTimeout, &s.UserTimeout)
	if force {
		s.Flags |= sockops.Force
	}
	return s
}

// policyFlags are the options that say which settings connections get, the
// same for attach, load and apply: the library's four, --force, --config.
type policyFlags struct {
	values []*string
	force  *bool
	config *string
}

func addPolicyFlags(fs *flag.FlagSet) policyFlags {
	p := policyFlags{values: make([]*string, len(options))}
	for i, o := range options {
		p.values[i] = fs.String(o.flag, "", "")
	}
	p.force = fs.Bool("force", false, "")
	p.config = fs.String("config", "", "")
	return p
}

// policyOf is the default's settings from env and force, and the rules by
// destination, each with the rule's own values over the default's, as the
// library gives them.
func policyOf(env map[string]string, force bool, dests []shim.Dest) sockops.Policy {
	c, _ := shim.Load(env)
	p := sockops.Policy{Default: settingsFrom(c, force)}
	for _, d := range dests {
		r := sockops.Rule{Settings: settingsFrom(d.Over(c), force), PortLo: d.PortLo, PortHi: d.PortHi,
			Line: uint32(d.Line), Text: d.String(), Network: sockops.Network{Any: d.Any, Prefix: d.Net}}
		if d.LeavesAlone() {
			r.Flags |= sockops.LeaveAlone
		}
		p.Rules = append(p.Rules, r)
	}
	return p
}

// settings checks the parsed options with the library's rules and reads
// the file they name (or /etc/keepalive.conf when no option says what to
// give); options override the file's settings, and so make the default
// that the file's rules by destination then override for their
// connections, as the environment does in the library. from says where the
// settings came from, for the closing line. ok is false when something was
// refused: every reason is on stderr, with nothing (what was therefore not
// done) after it.
func (p policyFlags) settings(fs *flag.FlagSet, mode, nothing string, stderr io.Writer) (pol sockops.Policy, from string, ok bool) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	flagEnv, ok := checkOptions(p.values, set, stderr)
	if !ok {
		fmt.Fprintln(stderr, nothing)
		return pol, "", false
	}
	if set["config"] && *p.config == "" {
		fmt.Fprintf(stderr, "keepalive: --config needs a FILE\n%s\n", nothing)
		return pol, "", false
	}
	file, ok := cgroupFileFor(set["config"], *p.config, len(flagEnv) == 0 && !*p.force, mode, stderr)
	if !ok {
		fmt.Fprintf(stderr, "%s: %s applies a configuration file whole or not at all\n", nothing, mode)
		return pol, "", false
	}
	env := map[string]string{}
	force := *p.force
	var dests []shim.Dest
	if file != nil {
		maps.Copy(env, file.env)
		force = force || file.force
		dests = file.dests
		if len(file.env) > 0 || file.force || len(dests) > 0 {
			from = "; settings from " + shim.ShowPath(file.path)
			if len(flagEnv) > 0 {
				from += " and the options"
			}
		}
	}
	maps.Copy(env, flagEnv)
	return policyOf(env, force, dests), from, true
}
