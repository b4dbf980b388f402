package mosquitto_test

import (
	"context"
	"github.com/authconform/authconform/env/gate"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/containers/mosquitto"
	"github.com/authconform/authconform/env/containers/refimage"
	"github.com/authconform/authconform/env/internal/probe"
)

// TestBrokerReachesReferenceByAlias runs both images on one network: a
// device key + MQTT password from the reference's target connects, a bad
// password is refused with CONNACK 5, the API down refuses (fail closed)
// and the API back accepts again.
func TestBrokerReachesReferenceByAlias(t *testing.T) {
	ctx := context.Background()
	gate.SkipUnless(t, containers.DockerAvailable(ctx))
	gate.SkipUnless(t, containers.ImageAvailable(ctx, containers.DefaultReferenceImage))
	gate.SkipUnless(t, containers.ImageAvailable(ctx, containers.DefaultMosquittoImage))
	if _, err := containers.Cleanup(ctx); err != nil {
		t.Logf("cleanup: %v", err)
	}
	nw, err := containers.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Remove(context.Background()) })
	ref, err := refimage.Run(ctx, containers.DefaultReferenceImage, refimage.WithNetwork(nw))
	t.Cleanup(func() { _ = ref.Terminate(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	mq, err := mosquitto.Run(ctx, containers.DefaultMosquittoImage, mosquitto.WithNetwork(nw), mosquitto.WithPluginOptions(map[string]string{"http_timeout": "1"}))
	t.Cleanup(func() { _ = mq.Terminate(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	d := ref.Target.Devices[0]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", mq.LogText(context.Background()))
			st, _ := ref.State(context.Background())
			if st != nil {
				t.Logf("reference state: running=%v restarting=%v exit=%d", st.Running, st.Restarting, st.ExitCode)
			}
			t.Logf("reference URL %s, networks %v", ref.URL, func() any { n, _ := ref.Networks(context.Background()); return n }())
		}
	})
	if err := probe.Connect(mq.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword); err != nil {
		t.Fatalf("valid device refused: %v", err)
	}
	err = probe.Connect(mq.Address, "agent-"+d.UUID, d.APIKey, "wrong")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "not authori") {
		t.Fatalf("wrong password: got %v, want CONNACK 5 (not authorised)", err)
	}
	stop := 2 * time.Second
	if err := ref.Stop(ctx, &stop); err != nil {
		t.Fatal(err)
	}
	if err := probe.Connect(mq.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword); err == nil {
		t.Fatal("API down: the broker ACCEPTED a client (must fail closed)")
	}
	if err := ref.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for err = probe.Connect(mq.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword); err != nil && time.Now().Before(deadline); err = probe.Connect(mq.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword) {
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("API back: valid device still refused after 15s: %v", err)
	}
	logs := mq.LogText(ctx)
	for _, secret := range []string{d.APIKey, d.MQTTPassword} {
		if strings.Contains(logs, secret) {
			t.Error("broker log contains a device secret")
		}
	}
}

// TestCleanupRemovesLeftoversOfDeadRuns: a network labelled by a run whose
// process is gone is removed; one of this run is kept.
func TestCleanupRemovesLeftoversOfDeadRuns(t *testing.T) {
	ctx := context.Background()
	gate.SkipUnless(t, containers.DockerAvailable(ctx))
	dead, err := tcnetwork.New(ctx, tcnetwork.WithLabels(map[string]string{containers.LabelRun: "crashed-run", containers.LabelPID: "2147483646"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Remove(context.Background()) })
	mine, err := containers.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mine.Remove(context.Background()) })
	if _, err := containers.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.NetworkInspect(ctx, dead.ID, client.NetworkInspectOptions{}); err == nil {
		t.Error("network of a dead run survived Cleanup")
	}
	if _, err := cli.NetworkInspect(ctx, mine.ID, client.NetworkInspectOptions{}); err != nil {
		t.Errorf("network of this run was removed: %v", err)
	}
}
