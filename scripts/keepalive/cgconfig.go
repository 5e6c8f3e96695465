package main

import (
	"fmt"
	"io"

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
}

// cgroupKeys are the settings a file gives the cgroup mode.
var cgroupKeys = []int{shim.VarIdle, shim.VarIntvl, shim.VarCnt, shim.VarUserTimeout}

// readCgroupFile reads path as the library does; named says the operator
// gave it (--config), which makes a missing file a problem.
func readCgroupFile(path string, named bool) cgroupFile {
	f := shim.ReadFile(path, named)
	cf := cgroupFile{path: path, env: map[string]string{}}
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
			cf.refused = append(cf.refused, fmt.Sprintf("keepalive: %s: KEEPALIVE=%s means no keepalive, and the cgroup mode "+
				"has nothing to attach for it: remove the line, or detach", where("KEEPALIVE"), shim.Quote(x)))
		}
	}
	if f.Values[shim.Rules[shim.VarDebug].Var] != "" {
		cf.notes = append(cf.notes, fmt.Sprintf("keepalive: note: %s: KEEPALIVE_DEBUG is the library's; the cgroup mode "+
			"counts connections instead (keepalive cgroup status)", where("KEEPALIVE_DEBUG")))
	}
	if len(f.Exclude) > 0 {
		cf.notes = append(cf.notes, fmt.Sprintf("keepalive: note: %s: %s is the library's; in the cgroup mode every program "+
			"of the cgroup gets the settings", where(shim.ExcludeVar), shim.ExcludeVar))
	}
	return cf
}

// cgroupFileFor is the file an attach or load reads: --config FILE when
// given, or the library's own /etc/keepalive.conf when nothing else says
// what to apply (bare), so that a host has one policy for both modes;
// none otherwise. ok is false when the file refuses the attach (each
// reason already said); its notes are said too.
func cgroupFileFor(given bool, path string, bare bool, stderr io.Writer) (file *cgroupFile, ok bool) {
	if !given && !bare {
		return nil, true
	}
	if !given {
		path = shim.DefaultFile
	}
	cf := readCgroupFile(path, given)
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
	var s sockops.Settings
	c, _ := shim.Load(env)
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
