package jwt_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/jwt"
)

func TestJWT(t *testing.T) { gotest.RunGoTest(t) }
