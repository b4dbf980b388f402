package transport_test

import (
	"testing"

	"github.com/authconform/authconform/suites/envs"
	_ "github.com/authconform/authconform/suites/transport"
)

func TestTransport(t *testing.T) { envs.RunGoTest(t) }
