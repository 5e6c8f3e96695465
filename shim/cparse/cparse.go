// Package cparse links the C reader of the configuration (parse.c, file.c)
// into the library, and lets Go tests call it.
package cparse

/*
#include <stdlib.h>
#include <string.h>
#include "parse.h"
#include "file.h"

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
*/
import "C"

import "unsafe"

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

// Merged is what the C reader makes of a file and an environment.
type Merged struct {
	State    [C.KA_NUM_VARS]State
	Value    [C.KA_NUM_VARS]int64
	Report   bool
	Excluded bool
}

// Merge runs ka_file_parse and ka_config_merge; env holds the variables'
// values in rule order ("" for unset), name is the program to test against
// the exclude list. Not safe for concurrent use.
func Merge(file []byte, env []string, name string) Merged {
	var strs []*C.char
	for i := 0; i < C.KA_NUM_VARS; i++ {
		C.test_setenv(C.int(i), nil)
		if i < len(env) && env[i] != "" {
			s := C.CString(env[i])
			strs = append(strs, s)
			C.test_setenv(C.int(i), s)
		}
	}
	defer func() {
		for _, s := range strs {
			C.free(unsafe.Pointer(s))
		}
	}()
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
	return m
}
