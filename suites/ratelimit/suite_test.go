package ratelimit_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/ratelimit"
)

func TestRateLimit(t *testing.T) { envs.RunGoTest(t) }
