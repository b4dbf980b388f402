package ratelimit_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/ratelimit"
)

func TestRateLimit(t *testing.T) { gotest.RunGoTest(t) }
