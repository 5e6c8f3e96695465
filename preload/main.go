// Command preload is libkeepalive.so, built with -buildmode=c-shared.
//
// All of the library's work is C (the files of this directory): it runs
// inside the host's calls, in forked children and in signal handlers, where
// calling into Go can hang, and the Go runtime never starts inside a host
// (see README.md). This file only makes the package a cgo command.
package main

/*
#include "preload.h"
*/
import "C"

import (
	// The C reader of the configuration and the messages.
	_ "github.com/libkeepalive/libkeepalive/shim/cparse"
)

func main() {}
