// Command empty is an empty Go c-shared library: the floor any Go shim pays,
// built for `make bench` to compare with.
package main

import "C"

func main() {}
