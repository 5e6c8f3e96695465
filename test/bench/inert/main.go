// Command inert is an empty Go c-shared library built with the library's
// overlay and link flags, so that its runtime never starts: the floor of a
// Go library whose runtime stays asleep, which `make bench` holds the
// library to.
package main

import "C"

func main() {}
