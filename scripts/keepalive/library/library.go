// Package library finds the libkeepalive.so a command should preload and
// asks the system whether it would load: which dynamic loader a program
// names (ELF PT_INTERP, through #! scripts), whether the library needs musl,
// and what the loader says when /bin/true runs under it.
package library

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/libkeepalive/libkeepalive/shim"
)

// Find returns the library: --lib, or next to this command (the build
// tree), or in the lib directory of its prefix.
func Find(flagLib string) (string, error) {
	if flagLib != "" {
		if abs, err := filepath.Abs(flagLib); err == nil && strings.ContainsAny(abs, " :") {
			return "", Unpreloadable{"--lib", abs}
		}
	}
	path, err := search(flagLib)
	if err == nil && strings.ContainsAny(path, " :") {
		return "", Unpreloadable{"the library", path}
	}
	return path, err
}

// Unpreloadable is a library path that LD_PRELOAD cannot hold.
type Unpreloadable struct{ What, Path string }

func (u Unpreloadable) Error() string {
	return fmt.Sprintf("%s %s: LD_PRELOAD splits paths at spaces and colons, so the loader would not load this one; "+
		"copy or link the library to a path without them and give that with --lib", u.What, shim.Quote(u.Path))
}

// libDirs: what glibc's loader reads $LIB as, by architecture, on Debian
// (multiarch) and on RPM systems, where the packages put the library.
var libDirs = map[string][]string{
	"amd64": {"lib/x86_64-linux-gnu", "lib64"},
	"arm64": {"lib/aarch64-linux-gnu", "lib64"},
	"386":   {"lib/i386-linux-gnu"},
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func search(flagLib string) (string, error) {
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
		return "", fmt.Errorf("cannot find this command's own path (%w): give --lib", err)
	}
	return nextTo(filepath.Dir(exe))
}

// nextTo finds the library for a command in dir: beside it (the build
// tree), where a package put it for this architecture, or in ../lib.
func nextTo(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "libkeepalive.so")); err == nil {
		return filepath.Join(dir, "libkeepalive.so"), nil
	}
	// A package puts the library where its distribution keeps this
	// architecture's libraries; then the line is the one that serves every
	// architecture: glibc's loader reads $LIB as the program's own library
	// directory (so a 32-bit program gets the 32-bit library).
	prefix := filepath.Clean(filepath.Join(dir, ".."))
	for _, d := range libDirs[runtime.GOARCH] {
		if _, err := os.Stat(filepath.Join(prefix, d, "libkeepalive.so")); err == nil {
			return prefix + "/$LIB/libkeepalive.so", nil
		}
	}
	if c := filepath.Join(prefix, "lib", "libkeepalive.so"); fileExists(c) {
		return c, nil
	}
	return "", fmt.Errorf("no libkeepalive.so in %s or %s: give --lib", dir, filepath.Clean(filepath.Join(dir, "..", "lib")))
}

// TrueProgram is a small dynamically linked program to load the library
// into: the first of these that exists.
func TrueProgram() string {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Interpreter is the dynamic loader an executable names (PT_INTERP): "" for
// a static one, or anything that is not ELF. A script is its
// interpreter's.
func Interpreter(path string) string {
	for depth := 0; depth < 4; depth++ {
		f, err := elf.Open(path)
		if err == nil {
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					b, _ := io.ReadAll(p.Open())
					return strings.TrimRight(string(b), "\x00")
				}
			}
			return ""
		}
		head := make([]byte, 256)
		r, err := os.Open(path)
		if err != nil {
			return ""
		}
		n, _ := r.Read(head)
		r.Close()
		line, _, _ := strings.Cut(string(head[:n]), "\n")
		rest, ok := strings.CutPrefix(line, "#!")
		if f := strings.Fields(rest); ok && len(f) > 0 {
			path = f[0]
			continue
		}
		return ""
	}
	return ""
}

// BuiltForMusl: the library needs musl's libc, not glibc's.
func BuiltForMusl(lib string) bool {
	f, err := elf.Open(lib)
	if err != nil {
		return false
	}
	defer f.Close()
	needed, _ := f.ImportedLibraries()
	for _, n := range needed {
		if strings.HasPrefix(n, "libc.musl") || n == "libc.so" {
			return true
		}
	}
	return false
}

// Loads runs a trivial program (/bin/true) with the library preloaded and
// none of our variables, and returns what the loader said if it refused the
// library: nil when it loaded, or when there is no such program to try (the
// host has no /bin/true: nothing is known either way, and a wrapper that
// refused to run for that would be worse). The library's own lines (a bad
// /etc/keepalive.conf) prove that it loaded and are not the loader's words.
func Loads(lib string) []string {
	prog := TrueProgram()
	if prog == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "LD_PRELOAD" && !strings.HasPrefix(k, "KEEP") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LD_PRELOAD="+lib)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var words []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, shim.Prefix) {
			words = append(words, printable(l))
		}
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		words = append(words, prog+" did not end within 20s under it")
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			words = append(words, prog+" was killed by "+ws.Signal().String()+" under it")
		} else {
			words = append(words, fmt.Sprintf("%s exited with status %d under it", prog, ws.ExitStatus()))
		}
	case err != nil:
		words = append(words, err.Error())
	}
	return words
}

// printable keeps the loader's words but no control characters.
func printable(s string) string {
	if q := shim.Quote(s); q[1:len(q)-1] != strings.NewReplacer(`"`, `\"`, `\`, `\\`).Replace(s) {
		return q
	}
	return s
}
