package provisioning_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/provisioning"
)

func TestProvisioning(t *testing.T) { envs.RunGoTest(t) }
