package mqttenv_test

import (
	"context"
	"github.com/authconform/authconform/env/gate"
	"net/http"
	"strings"
	"testing"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/spec"
)

type env interface {
	Target() *spec.Target
	Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error)
	SetBackend(ctx context.Context, m mqttenv.Mode) error
	Close() error
}

// checkDeploy: a deployment with a chosen JWT_SECRET answers, the target
// carries the broker address, and SetBackend round-trips.
func checkDeploy(t *testing.T, e env) {
	t.Helper()
	ctx := context.Background()
	if e.Target().MQTT == nil || !strings.HasPrefix(e.Target().MQTT.Address, "tcp://127.0.0.1:") {
		t.Fatalf("target has no loopback MQTT address: %+v", e.Target().MQTT)
	}
	tg, stop, err := e.Deploy(ctx, map[string]string{"JWT_SECRET": strings.Repeat("s3cret-", 6)})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get(tg.BaseURL + "/api/v1/agents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("deployed reference: GET /agents without a token = %d, want 401", resp.StatusCode)
	}
	if err := e.SetBackend(ctx, mqttenv.Down); err != nil {
		t.Fatal(err)
	}
	if err := e.SetBackend(ctx, mqttenv.Up); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(e.Target().BaseURL + "/api/v1/agents")
	if err != nil {
		t.Fatalf("target URL stale after the backend came back: %v", err)
	}
	resp.Body.Close()
}

func TestExecEnv(t *testing.T) {
	gate.SkipUnless(t, mqttenv.ExecAvailable())
	e, err := mqttenv.StartExec(context.Background(), spec.Iotistica, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	checkDeploy(t, e)
}

func TestContainersEnv(t *testing.T) {
	ctx := context.Background()
	gate.SkipUnless(t, mqttenv.ContainersAvailable(ctx, containers.DefaultReferenceImage, containers.DefaultMosquittoImage))
	e, err := mqttenv.StartContainers(ctx, spec.Iotistica, nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	checkDeploy(t, e)
}
