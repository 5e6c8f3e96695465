// Package pins keeps the cgroup mode's objects in bpffs, where they outlive
// the command: under BPFFS/keepalive, one directory per attached cgroup
// (attached/NAME, NAME from the cgroup's path) and one per load
// (loaded/NAME, NAME from the operator), each holding the settings and
// counters maps and the programs' links (attach) or the programs (load).
package pins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NameMax is the longest name bpffs takes for a directory (NAME_MAX).
const NameMax = 255

// Every byte of an escaped name is one of these, '+' (for '/') or part of a
// %XX escape. Not '.': bpffs refuses every name that holds one (bpf_lookup
// answers EPERM; the kernel keeps dots for names of its own), and every
// systemd unit and slice has one. Not '~': it marks a shortened name.
const kept = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@:="

// hashLen is the hex digits of SHA-256 a shortened name carries: 128 bits.
const hashLen = 32

// Name is the pin directory's name for a cgroup's absolute path: '/' becomes
// '+', the bytes of kept stay, any other byte becomes %XX (so '.' is %2E),
// which PathOf reverses. A name that would pass NameMax (deep Kubernetes
// paths can) is shortened instead to "~HASH~TAIL": HASH is 128 bits of the
// path's SHA-256, so that the name stays one per cgroup, and TAIL the end of
// the escaped name, the part that tells one container from another; the
// whole path is then read from the cgroup map the directory holds.
func Name(path string) string {
	e := escape(path)
	if len(e) <= NameMax {
		return e
	}
	sum := sha256.Sum256([]byte(path))
	head := "~" + hex.EncodeToString(sum[:])[:hashLen] + "~"
	s := len(e) - (NameMax - len(head))
	// Start the tail on a whole escape: a '%' is always the first of three.
	switch {
	case e[s-1] == '%':
		s += 2
	case e[s-2] == '%':
		s++
	}
	return head + e[s:]
}

func escape(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '/':
			b.WriteByte('+')
		case strings.IndexByte(kept, c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Shortened tells a name Name shortened, which gives no path back.
func Shortened(name string) bool { return strings.HasPrefix(name, "~") }

// PathOf is the cgroup path of a name Name made in full; ok is false for a
// shortened name and for one Name cannot have made.
func PathOf(name string) (path string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '+':
			b.WriteByte('/')
		case c == '%':
			// Only as Name writes it: two upper-case hex digits, of a
			// byte that Name escapes.
			if i+2 >= len(name) || !upperHex(name[i+1]) || !upperHex(name[i+2]) {
				return "", false
			}
			n, _ := strconv.ParseUint(name[i+1:i+3], 16, 8)
			if n == '/' || strings.IndexByte(kept, byte(n)) >= 0 {
				return "", false
			}
			b.WriteByte(byte(n))
			i += 2
		case strings.IndexByte(kept, c) >= 0:
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return b.String(), true
}

func upperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// loadKept is what a load's NAME may hold. The name is the operator's, and
// it ends up in BPFProgram=sock_ops:BPFFS/keepalive/loaded/NAME/sock_ops, a
// unit file line in which '%' starts a specifier and '\' an escape, so it is
// checked, not escaped: what the operator types is what the unit file says.
const loadKept = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@"

// CheckLoadName accepts a load's NAME, or says which characters it may hold
// and offers one that would do.
func CheckLoadName(name string) error {
	if name == "" {
		return fmt.Errorf("load NAME is empty: want letters, digits, '-', '_' or '@', such as legacy")
	}
	bad := strings.IndexFunc(name, func(r rune) bool { return strings.IndexRune(loadKept, r) < 0 }) >= 0
	if !bad && len(name) <= NameMax {
		return nil
	}
	why := "it holds " + describeBad(name)
	if len(name) > NameMax {
		why = fmt.Sprintf("it is %d bytes long, over %d", len(name), NameMax)
	}
	return fmt.Errorf("load NAME %q cannot be a pin directory: %s; a NAME may hold only letters, digits, '-', '_' and '@' "+
		"(bpffs refuses '.', and '%%' and '\\' mean something else in a unit's BPFProgram= line), up to %d bytes: try %q",
		name, why, NameMax, suggestLoadName(name))
}

func describeBad(name string) string {
	var seen []string
	for _, r := range name {
		if strings.IndexRune(loadKept, r) < 0 {
			q := strconv.QuoteRune(r)
			if !slices.Contains(seen, q) {
				seen = append(seen, q)
			}
		}
	}
	return strings.Join(seen, ", ")
}

// suggestLoadName drops a unit suffix (legacy.service: legacy) and turns
// what is left that may not stay into '-'.
func suggestLoadName(name string) string {
	for _, suffix := range []string{".service", ".socket", ".slice", ".scope"} {
		if n, ok := strings.CutSuffix(name, suffix); ok && n != "" {
			name = n
			break
		}
	}
	s := strings.Map(func(r rune) rune {
		if strings.IndexRune(loadKept, r) < 0 {
			return '-'
		}
		return r
	}, name)
	if len(s) > NameMax {
		s = s[:NameMax]
	}
	if strings.Trim(s, "-") == "" {
		return "legacy"
	}
	return s
}
