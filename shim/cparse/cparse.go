// Package cparse links the C reader of the configuration (parse.c) into the
// library, and lets Go tests call it.
package cparse

/*
#include <stdlib.h>
#include "parse.h"
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
