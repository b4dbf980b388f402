package tenancy_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/tenancy"
)

func TestTenancy(t *testing.T) { envs.RunGoTest(t) }
