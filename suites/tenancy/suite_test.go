package tenancy_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/tenancy"
)

func TestTenancy(t *testing.T) { gotest.RunGoTest(t) }
