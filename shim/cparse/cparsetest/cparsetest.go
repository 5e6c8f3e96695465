// Package cparsetest lets Go tests call the C reader of the configuration
// and the messages (shim/cparse), for the differential tests in shim. Only
// tests import it: its C helpers (test_setenv, test_report, ...) and the Go
// wrappers of cgo calls are test code, and must not be linked into the
// library, which is loaded into every host (test/'s TestLibraryHoldsNoTestCode).
// cgo cannot be used in _test.go files, hence a package.
//
// The C it calls is shim/cparse's own objects, not a copy: the import of
// shim/cparse links them in, and their hidden symbols resolve within the one
// link.
package cparsetest

/*
#cgo CFLAGS: -I${SRCDIR}/..
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "parse.h"
#include "file.h"
#include "report.h"
#include "dest.h"

static struct ka_dest test_dests[KA_DEST_MAX];

static struct ka_dest *test_dest(int i) { return &test_dests[i]; }

static const char *test_env[KA_NUM_VARS];

static void test_setenv(int i, const char *v) { test_env[i] = v; }

static const char *test_lookup(const char *name)
{
	for (int i = 0; i < KA_NUM_VARS; i++)
		if (strcmp(name, ka_rules[i].var) == 0)
			return test_env[i];
	return NULL;
}

static int test_merge(const char *text, size_t n, struct ka_config *c, int *excluded, const char *name)
{
	static struct ka_file f;
	ka_file_parse(&f, text, n);
	*excluded = ka_excluded(f.exclude, name);
	return ka_config_merge(c, &f, test_lookup);
}

struct test_lines {
	char *buf;
	size_t n, cap;
};

static void test_emit(void *ctx, const char *line)
{
	struct test_lines *l = ctx;
	size_t k = strlen(line);
	if (l->n + k + 1 > l->cap) {
		l->cap = 2 * (l->n + k + 1);
		l->buf = realloc(l->buf, l->cap);
	}
	memcpy(l->buf + l->n, line, k);
	l->buf[l->n + k] = '\n';
	l->n += k + 1;
}

static int test_report(struct ka_source *src, int with_file, struct test_lines *out)
{
	return ka_report(with_file ? src : NULL, test_lookup, test_emit, out);
}
*/
import "C"

import (
	"fmt"
	"net/netip"
	"strings"
	"unsafe"

	// The C reader itself: its objects are what the helpers above call.
	_ "github.com/libkeepalive/libkeepalive/shim/cparse"
)

// State is enum ka_state.
type State int

const (
	Unset   State = C.KA_UNSET
	OK      State = C.KA_OK
	Invalid State = C.KA_INVALID
)

// Parse runs ka_parse on text as variable v (an index into shim.Rules).
func Parse(v int, text string) (State, int64) {
	cs := C.CString(text)
	defer C.free(unsafe.Pointer(cs))
	var out C.longlong
	st := C.ka_parse(C.int(v), cs, &out)
	return State(st), int64(out)
}

// Source is what the library knows of its configuration file.
type Source struct {
	Path  string
	Named bool   // the user chose the path
	Errno int    // of opening or reading it
	Kind  uint32 // S_IFMT of a path that is not a regular file
	Text  []byte
}

// Report runs ka_report: the lines the library writes for src (nil: no file)
// and env (the variables' values in rule order, "" for unset). Not safe for
// concurrent use.
func Report(src *Source, env []string) []string {
	free := setEnv(env)
	defer free()
	var s C.struct_ka_source
	if src != nil {
		path := C.CString(src.Path)
		defer C.free(unsafe.Pointer(path))
		text := C.CBytes(append(append([]byte(nil), src.Text...), 0))
		defer C.free(text)
		s = C.struct_ka_source{path: path, err: C.int(src.Errno), kind: C.uint(src.Kind),
			text: (*C.char)(text), n: C.size_t(len(src.Text))}
		if src.Named {
			s.named = 1
		}
	}
	var out C.struct_test_lines
	with := C.int(0)
	if src != nil {
		with = 1
	}
	C.test_report(&s, with, &out)
	defer C.free(unsafe.Pointer(out.buf))
	if out.n == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(C.GoStringN(out.buf, C.int(out.n)), "\n"), "\n")
}

// setEnv makes env what the test lookup returns; the result frees it.
func setEnv(env []string) func() {
	var strs []*C.char
	for i := 0; i < C.KA_NUM_VARS; i++ {
		C.test_setenv(C.int(i), nil)
		if i < len(env) && env[i] != "" {
			s := C.CString(env[i])
			strs = append(strs, s)
			C.test_setenv(C.int(i), s)
		}
	}
	return func() {
		for _, s := range strs {
			C.free(unsafe.Pointer(s))
		}
	}
}

// Read runs ka_file_read on path, as the library reads its file.
func Read(path string, named bool) *Source {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	buf := C.malloc(C.KA_FILE_MAX + 1)
	defer C.free(buf)
	var n C.size_t
	var kind C.uint
	errno := C.ka_file_read(cpath, (*C.char)(buf), C.KA_FILE_MAX+1, &n, &kind)
	return &Source{Path: path, Named: named, Errno: int(errno), Kind: uint32(kind), Text: C.GoBytes(buf, C.int(n))}
}

// Merged is what the C reader makes of a file and an environment.
type Merged struct {
	State    [C.KA_NUM_VARS]State
	Value    [C.KA_NUM_VARS]int64
	Report   bool
	Excluded bool
	Dests    string // the rules read, one line each, as DestLine writes them
}

// DestLine is a rule as the differential tests compare it: line, network
// (family 0 for any), ports, and each of the rule's variables as
// state:value.
func DestLine(line int, network string, lo, hi uint, states []State, values []int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %d-%d", line, network, lo, hi)
	for i := range states {
		if states[i] == OK {
			fmt.Fprintf(&b, " %d:%d", i, values[i])
		}
	}
	return b.String() + "\n"
}

// dests runs ka_file_dests on text.
func dests(text *C.char, n C.size_t) string {
	k := int(C.ka_file_dests(text, n, C.test_dest(0), C.KA_DEST_MAX))
	var b strings.Builder
	for i := 0; i < k; i++ {
		d := C.test_dest(C.int(i))
		network := "any"
		if d.family != 0 {
			size := 16
			if d.family == C.AF_INET {
				size = 4
			}
			a, _ := netip.AddrFromSlice(C.GoBytes(unsafe.Pointer(&d.addr[0]), C.int(size)))
			network = netip.PrefixFrom(a, int(d.bits)).String()
		}
		var states []State
		var values []int64
		for i := 0; i < C.KA_NUM_VARS; i++ {
			states = append(states, State(d.cfg.state[i]))
			values = append(values, int64(d.cfg.value[i]))
		}
		b.WriteString(DestLine(int(d.line), network, uint(d.port_lo), uint(d.port_hi), states, values))
	}
	return b.String()
}

// Match runs ka_file_dests and ka_dest_matches: the index of the first rule
// of file for a connection to addr with the service port port, -1 if none.
func Match(file []byte, addr netip.Addr, port uint16) int {
	text := C.CBytes(append(file, 0))
	defer C.free(text)
	k := int(C.ka_file_dests((*C.char)(text), C.size_t(len(file)), C.test_dest(0), C.KA_DEST_MAX))
	family, raw := C.AF_INET6, addr.As16()
	b := raw[:]
	if addr.Is4() {
		a4 := addr.As4()
		family, b = C.AF_INET, a4[:]
	}
	cb := C.CBytes(b)
	defer C.free(cb)
	for i := 0; i < k; i++ {
		if C.ka_dest_matches(C.test_dest(C.int(i)), C.int(family), (*C.uchar)(cb), C.uint(port)) != 0 {
			return i
		}
	}
	return -1
}

// Merge runs ka_file_parse and ka_config_merge; env holds the variables'
// values in rule order ("" for unset), name is the program to test against
// the exclude list. Not safe for concurrent use.
func Merge(file []byte, env []string, name string) Merged {
	defer setEnv(env)()
	text := C.CBytes(append(file, 0))
	defer C.free(text)
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var c C.struct_ka_config
	var excluded C.int
	report := C.test_merge((*C.char)(text), C.size_t(len(file)), &c, &excluded, cname)
	var m Merged
	for i := 0; i < C.KA_NUM_VARS; i++ {
		m.State[i] = State(c.state[i])
		if m.State[i] == OK {
			m.Value[i] = int64(c.value[i])
		}
	}
	m.Report, m.Excluded = report != 0, excluded != 0
	m.Dests = dests((*C.char)(text), C.size_t(len(file)))
	return m
}
