// Command genrules writes the C header holding shim.Rules, so that the C
// parser of the preload path reads the same table as Go.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/libkeepalive/libkeepalive/shim/internal/rulesh"
)

func main() {
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	b := rulesh.Header()
	if *out == "" {
		os.Stdout.Write(b)
		return
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
