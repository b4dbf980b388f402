package jwt_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/jwt"
)

func TestJWT(t *testing.T) { envs.RunGoTest(t) }
