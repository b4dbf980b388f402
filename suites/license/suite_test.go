package license_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/license"
)

func TestLicense(t *testing.T) { gotest.RunGoTest(t) }
