package license_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/license"
)

func TestLicense(t *testing.T) { envs.RunGoTest(t) }
