package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestMain lets the test binary stand in for the authconform binary: with
// AUTHCONFORM_BE_MAIN=1 it runs the CLI instead of the tests. Ginkgo runs
// one suite per process, so every conformance run is a subprocess.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHCONFORM_BE_MAIN") == "1" {
		os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cli runs the CLI in a subprocess and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "AUTHCONFORM_BE_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, o.String(), e.String()
}
