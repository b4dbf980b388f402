package transport_test

import (
	"testing"

	"github.com/authconform/authconform/env/gotest"
	_ "github.com/authconform/authconform/suites/transport"
)

func TestTransport(t *testing.T) { gotest.RunGoTest(t) }
