// Package gate turns a missing prerequisite of a test (Docker, an image,
// the mosquitto binary, the plugin) into a skip with its reason, or into a
// failure in CI. Only test code imports it.
package gate

import (
	"fmt"
	"os"
	"testing"
)

// RequireEnv names the environment variable that turns a missing
// prerequisite into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = "AUTHCONFORM_REQUIRE_CONTAINERS"

// SkipUnless skips t with a one-line reason printed to stderr when err is
// not nil (a missing Docker, image, mosquitto binary or plugin), or fails
// it when AUTHCONFORM_REQUIRE_CONTAINERS=1. Never a silent skip.
func SkipUnless(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s=1 but: %v", RequireEnv, err)
	}
	fmt.Fprintf(os.Stderr, "SKIP %s: %v\n", t.Name(), err)
	t.Skip(err.Error())
}
