package apikeys_test

import (
	"testing"

	_ "github.com/authconform/authconform/suites/apikeys"
	"github.com/authconform/authconform/suites/envs"
)

func TestAPIKeys(t *testing.T) { envs.RunGoTest(t) }
