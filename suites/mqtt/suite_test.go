package mqtt_test

import (
	"testing"

	"github.com/authconform/authconform/env"
	"github.com/authconform/authconform/env/gotest"
	"github.com/authconform/authconform/spec"
	_ "github.com/authconform/authconform/suites/mqtt"
)

// TestMQTT runs the MQTT specs against a real Mosquitto: the exec
// environment by default, containers with AUTHCONFORM_MQTT_ENV=containers,
// or AUTHCONFORM_TARGET. AUTHCONFORM_FAULTS (comma separated) starts
// mutants, e.g. mqtt-fail-open. Without mosquitto/the plugin (or Docker)
// it skips with the reason (fails with AUTHCONFORM_REQUIRE_CONTAINERS=1).
func TestMQTT(t *testing.T) {
	gotest.Run(t, gotest.Config{Profiles: []spec.ProfileName{spec.Iotistica}, LabelFilter: "area:mqtt", Env: env.EnvExec})
}
