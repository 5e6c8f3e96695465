package test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/libkeepalive/libkeepalive/shim"
)

// The configuration file, read by a preloaded process: its values apply, the
// environment wins over it, excluded programs are left alone, and bad lines
// get the same messages as bad variables.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalive.conf")
	text := "# system-wide defaults\nKEEPIDLE = 45\nKEEPINTVL=15s\nKEEPCNT=4\nKEEPALIVE_EXCLUDE=excluded-prog, other\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"KEEPALIVE_CONFIG=" + conf}
	control, shimmed := pair(t, env, "sockets")
	wantUntouched(t, "inet_stream", line(control.stdout, "inet_stream"))
	if s := line(shimmed.stdout, "inet_stream"); s["ka"] != "1" || s["idle"] != "45" || s["intvl"] != "15" || s["cnt"] != "4" || shimmed.stderr != "" {
		t.Errorf("values from the file: %v, stderr %q", s, shimmed.stderr)
	}
	over := run{preload: true, env: append(env, "KEEPIDLE=50"), args: []string{"sockets"}}.exec(t)
	if s := line(over.stdout, "inet_stream"); s["idle"] != "50" || s["cnt"] != "4" {
		t.Errorf("the environment wins over the file: %v", s)
	}
	// An excluded program, by name.
	excluded := filepath.Join(dir, "excluded-prog")
	copyFile(t, program("sockets"), excluded, 0o755)
	ex := run{preload: true, env: append(env, "KEEPIDLE=abc"), args: []string{excluded}}.exec(t)
	if s := line(ex.stdout, "inet_stream"); s["ka"] != "0" || ex.stderr != "" {
		t.Errorf("excluded program: %v, stderr %q; want untouched and silent", s, ex.stderr)
	}

	// Bad lines.
	bad := "KEEPIDLE=abc\nKEEPCNT=4\nKEEPALIVE_IDLE=60\nKEEPCNT=5\nnonsense\n"
	if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run{preload: true, env: env, args: []string{"sockets"}}.exec(t)
	passed(t, "with a bad file", r)
	_, probs := shim.LoadWith(map[string]string{}, shim.ParseFile(conf, []byte(bad)))
	var want []string
	for _, p := range probs {
		want = append(want, p.Message())
	}
	if got := stderrLines(r.stderr); len(want) != 4 || !slices.Equal(got, want) {
		t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := line(r.stdout, "inet_stream"); s["ka"] != "1" || s["cnt"] != "5" || s["idle"] != line(control.stdout, "inet_stream")["idle"] {
		t.Errorf("the valid lines still apply: %v", s)
	}
}
