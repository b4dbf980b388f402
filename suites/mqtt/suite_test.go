package mqtt_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/containers"
	"github.com/authconform/authconform/suites/containers/mqttenv"
	"github.com/authconform/authconform/suites/envs"
	"github.com/authconform/authconform/suites/framework"
	_ "github.com/authconform/authconform/suites/mqtt"
)

// TestMQTT runs the MQTT specs against a real Mosquitto: the exec
// environment by default, containers with AUTHCONFORM_MQTT_ENV=containers.
// AUTHCONFORM_FAULTS (comma separated) starts mutants, e.g.
// mqtt-fail-open. Without mosquitto/the plugin (or Docker) it skips with
// the reason.
func TestMQTT(t *testing.T) {
	ctx := context.Background()
	var faults []string
	if f := os.Getenv("AUTHCONFORM_FAULTS"); f != "" {
		faults = strings.Split(f, ",")
	}
	var env interface {
		framework.Env
		Close() error
	}
	switch os.Getenv("AUTHCONFORM_MQTT_ENV") {
	case "containers":
		containers.SkipUnless(t, mqttenv.ContainersAvailable(ctx, containers.DefaultReferenceImage, containers.DefaultMosquittoImage))
		e, err := mqttenv.StartContainers(ctx, spec.Iotistica, faults, "", "")
		if err != nil {
			t.Fatal(err)
		}
		env = e
	default:
		containers.SkipUnless(t, mqttenv.ExecAvailable())
		e, err := mqttenv.StartExec(ctx, spec.Iotistica, faults)
		if err != nil {
			t.Fatal(err)
		}
		env = e
	}
	defer env.Close()
	ctxs := []*framework.Ctx{{Profile: spec.MustGet(spec.Iotistica), Env: env}}
	filter := os.Getenv("AUTHCONFORM_LABEL_FILTER")
	if filter == "" {
		filter = "area:mqtt"
	}
	framework.Run(t, ctxs, framework.RunOptions{LabelFilter: filter, Secrets: envs.Secrets(ctxs), Verbose: testing.Verbose()})
}
