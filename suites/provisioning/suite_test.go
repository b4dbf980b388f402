package provisioning_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/provisioning"
)

func TestProvisioning(t *testing.T) { gotest.RunGoTest(t) }
