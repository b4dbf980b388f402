package apikeys_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/apikeys"
)

func TestAPIKeys(t *testing.T) { gotest.RunGoTest(t) }
