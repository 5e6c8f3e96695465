// Package probebuild builds the tests' one static Go probe (test/go/probe)
// for the host's tests and the guests alike: CGO_ENABLED=0, so that no
// preload can reach it, for the architecture asked.
package probebuild

import (
	"fmt"
	"os"
	"os/exec"
)

// Package is the probe's import path.
const Package = "github.com/libkeepalive/libkeepalive/test/go/probe"

// Static builds the probe at out for goarch ("" for this machine's).
func Static(out, goarch string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, Package)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOOS=linux")
	if goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the static probe (%s): %w\n%s", Package, err, b)
	}
	return nil
}
