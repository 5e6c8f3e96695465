// Package cparse is the C reader of the configuration and the library's
// messages (parse.c, file.c, line.c, report.c), linked into the library by
// importing it. It has no Go code: the tests reach the C through cparsetest,
// which only tests import, so that nothing of theirs is loaded into a host.
package cparse

import "C"
