package execbroker_test

import (
	"context"
	"github.com/authconform/authconform/env/gate"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/env/execbroker"
	"github.com/authconform/authconform/env/internal/probe"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

func startReference(t *testing.T) *reference.Running {
	t.Helper()
	r, err := reference.Start(context.Background(), reference.Config{Profile: spec.Iotistica}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func startBroker(t *testing.T, opts ...execbroker.Option) *execbroker.Broker {
	t.Helper()
	b, err := execbroker.Run(context.Background(), "", opts...)
	t.Cleanup(func() { _ = b.Terminate(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPluginAgainstReference: accepted with the device's key and MQTT
// password, refused (CONNACK 5) with a wrong one, refused without CONNACK
// when the API is down; the broker log never holds the secrets.
func TestPluginAgainstReference(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	ref := startReference(t)
	d := ref.Target.Devices[0]
	b := startBroker(t, execbroker.WithAPIURL(ref.URL), execbroker.WithPluginOptions(map[string]string{"http_timeout": "500ms"}))
	if err := probe.Connect(b.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword); err != nil {
		t.Fatalf("valid device refused: %v\n%s", err, b.Logs())
	}
	if err := probe.Connect(b.Address, "agent-"+d.UUID, d.APIKey, "wrong"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "not authori") {
		t.Fatalf("wrong password: %v, want CONNACK 5", err)
	}
	if err := probe.Connect(b.Address, "agent-"+d.UUID, "", ""); err == nil {
		t.Fatal("no username accepted")
	}
	_ = ref.Close()
	if err := probe.Connect(b.Address, "agent-"+d.UUID, d.APIKey, d.MQTTPassword); err == nil {
		t.Fatal("API down: client ACCEPTED (must fail closed)")
	}
	logs := b.Logs()
	for end := time.Now().Add(3 * time.Second); !strings.Contains(logs, "backend error; refusing") && time.Now().Before(end); logs = b.Logs() {
		time.Sleep(20 * time.Millisecond) // the broker writes the line after closing the socket
	}
	if !strings.Contains(logs, "backend error; refusing") {
		t.Errorf("no backend error logged:\n%s", logs)
	}
	for _, s := range []string{d.APIKey, d.MQTTPassword} {
		if strings.Contains(logs, s) {
			t.Error("broker log contains a device secret")
		}
	}
}

// TestFailOpenMutant: with fail_open the API down lets a client in — the
// defect MQTT-004 must catch.
func TestFailOpenMutant(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	b := startBroker(t, execbroker.WithAPIURL(dead), execbroker.WithFailOpen())
	if err := probe.Connect(b.Address, "agent-x", "iotsk_live_whatever", "any"); err != nil {
		t.Fatalf("fail-open mutant refused a client with the API down: %v", err)
	}
	if !strings.Contains(b.Logs(), "fail_open") { // printed at start-up, before "running"
		t.Error("fail-open warning missing from the log")
	}
}

func TestPasswordFileBaseline(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	b := startBroker(t, execbroker.WithoutPlugin(), execbroker.WithPasswords(map[string]string{"dev1": "pw-1"}))
	if err := probe.Connect(b.Address, "c1", "dev1", "pw-1"); err != nil {
		t.Fatalf("password_file user refused: %v", err)
	}
	if err := probe.Connect(b.Address, "c1", "dev1", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestRunWithoutAPIIsAnError(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	b, err := execbroker.Run(context.Background(), "")
	defer b.Terminate(context.Background())
	if err == nil {
		t.Fatal("Run without an API address succeeded")
	}
}
