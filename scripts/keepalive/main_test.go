package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestPrepend(t *testing.T) {
	for _, tc := range []struct{ lib, existing, want string }{
		{"/l/k.so", "", "/l/k.so"},
		{"/l/k.so", "/x/a.so", "/l/k.so:/x/a.so"},
		{"/l/k.so", "/x/a.so /l/k.so:/y/b.so", "/l/k.so:/x/a.so:/y/b.so"}, // once, and spaces are separators too
		{"/l/k.so", "::/l/k.so::", "/l/k.so"},
	} {
		if got := prepend(tc.lib, tc.existing); got != tc.want {
			t.Errorf("prepend(%q, %q) = %q, want %q", tc.lib, tc.existing, got, tc.want)
		}
	}
}

func TestDedupe(t *testing.T) {
	got := dedupe([]string{"A=1", "B=2", "A=3", "C", "B=", "C=x"})
	if want := []string{"A=3", "B=", "C=x"}; !slices.Equal(got, want) {
		t.Errorf("dedupe = %q, want %q (the last value, in the first one's place)", got, want)
	}
}

// The wrapper's options and the cgroup mode's are checked by one function
// with the library's messages.
func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		ok      bool
		message string
	}{
		{[]string{"--idle", "90s", "--count", "3"}, map[string]string{"KEEPIDLE": "90s", "KEEPCNT": "3"}, true, ""},
		{[]string{"--user-timeout", "2500ms"}, map[string]string{"KEEPUSERTIMEOUT": "2500ms"}, true, ""},
		{[]string{"--idle", "0"}, nil, false, `keepalive: --idle "0" is out of range: want whole seconds from 1 to 32767`},
		{[]string{"--count", "128"}, nil, false, `keepalive: --count "128" is out of range: want a number of probes from 1 to 127`},
		{[]string{"--interval", ""}, nil, false, "keepalive: --interval needs a value: want whole seconds"},
		{[]string{"--idle", "6O", "--count", "x"}, nil, false, "--count \"x\""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		values := make([]*string, len(options))
		for i, o := range options {
			values[i] = fs.String(o.flag, "", "")
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var msg strings.Builder
		env, ok := checkOptions(values, set, &msg)
		if ok != tc.ok || (tc.ok && !mapsEqual(env, tc.env)) || !strings.Contains(msg.String(), tc.message) || tc.ok != (msg.Len() == 0) {
			t.Errorf("%q: env %v, ok %v, message %q; want %v, %v, %q", tc.args, env, ok, msg.String(), tc.env, tc.ok, tc.message)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	idle := fs.String("idle", "", "")
	pos, err := parseInterleaved(fs, []string{"legacy.service", "--idle", "60", "--", "--not-a-flag"})
	if err != nil || *idle != "60" || !slices.Equal(pos, []string{"legacy.service", "--not-a-flag"}) {
		t.Errorf("got %q, idle %q, %v", pos, *idle, err)
	}
}

// The help text's ranges are the rules' own.
func TestUsageRanges(t *testing.T) {
	for _, want := range []string{"(1s to 32767s)", "(1-127)", "(0 to 2147483s;"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
