package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// mqtt-connect: a CONNECT storm of devices with their own credentials.
var mqttConnectScenario = &Scenario{
	Name: "mqtt-connect", Help: "MQTT CONNECT storm with provisioned devices (needs mqtt.address in --target)",
	Needs: spec.CapMQTT, Expect: "success = CONNACK accepted",
	// 200 = CONNACK accepted; 401/403 = refused (0x04/0x05)
	Success:  func(r *vegeta.Result) (bool, string) { return r.Code == 200, "CONNACK accepted" },
	Defaults: Defaults{Rate: func(*spec.Target) float64 { return 100 }},
	Prepare:  prepareMQTT,
}

// mqttClient is one device's MQTT credentials. It never leaves memory.
type mqttClient struct {
	id       int
	uuid     string
	username string
	password string
}

// DefaultMQTTClients is how many devices mqtt-connect provisions per shard
// on top of the target's own devices.
const DefaultMQTTClients = 16

// prepareMQTT builds the connect storm: every hit is one CONNECT, CONNACK,
// DISCONNECT of a device with its own credentials. Each device connects
// from one place at a time (the broker would take its session over), so
// the pool size bounds the concurrency. The hits go through vegeta's
// attacker (pacing, workers, results) with a RoundTripper that speaks MQTT
// instead of HTTP: result code 200 = accepted, 401/403 = refused (CONNACK
// 0x04/0x05), 0 + error = no CONNACK.
func prepareMQTT(ctx context.Context, e *env) (*plan, error) {
	if e.t.MQTT == nil || e.t.MQTT.Address == "" {
		return nil, fmt.Errorf("%w: mqtt-connect needs a broker: the target has no mqtt.address (give --target FILE with mqtt.address, e.g. from the containers environment)", ErrUsage)
	}
	if e.p.ProvisioningKeyPrefix == "" {
		return nil, fmt.Errorf("%w: mqtt-connect needs the iotistica profile (use --profile iotistica)", ErrUsage)
	}
	devs, err := Partition(e.shard, e.t.Devices, "devices")
	if err != nil {
		devs = nil // provisioned devices below are this shard's own
	}
	var clients []*mqttClient
	for _, d := range devs {
		clients = append(clients, &mqttClient{uuid: d.UUID, username: d.APIKey, password: d.MQTTPassword})
	}
	notes := []string{}
	prov, perr := provisionDevices(ctx, e, DefaultMQTTClients)
	clients = append(clients, prov...)
	if perr != nil {
		notes = append(notes, "provisioning stopped early: "+perr.Error())
	}
	if len(clients) == 0 {
		return nil, fmt.Errorf("%w: mqtt-connect: no device credentials for shard %s (%v)", ErrUsage, e.shard, perr)
	}
	for i, c := range clients {
		c.id = i
	}
	free := make(chan *mqttClient, len(clients))
	for _, c := range clients {
		free <- c
	}
	broker := e.t.MQTT.Address
	if strings.HasPrefix(broker, "mqtt://") {
		broker = "tcp://" + strings.TrimPrefix(broker, "mqtt://")
	}
	done := make(chan struct{})
	targeter := func(t *vegeta.Target) error {
		c, err := takeFree(free, done)
		if err != nil {
			return err
		}
		*t = vegeta.Target{Method: "CONNECT", URL: broker + "#d=" + strconv.Itoa(c.id)}
		return nil
	}
	rt := func(http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			id, err := strconv.Atoi(strings.TrimPrefix(req.URL.Fragment, "d="))
			if err != nil || id < 0 || id >= len(clients) {
				return nil, fmt.Errorf("mqtt: bad client tag")
			}
			c := clients[id]
			defer func() { free <- c }()
			return mqttConnect(req.Context(), broker, c)
		})
	}
	notes = append(notes, fmt.Sprintf("%d device(s) with their own credentials; each hit is CONNECT+CONNACK+DISCONNECT (MQTT 3.1.1)", len(clients)))
	return &plan{targeter: targeter, transport: rt, notes: notes, close: func() { close(done) }}, nil
}

func mqttConnect(ctx context.Context, broker string, c *mqttClient) (*http.Response, error) {
	const timeout = 10 * time.Second
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("agent-" + c.uuid).
		SetUsername(c.username).SetPassword(c.password).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(timeout)
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(timeout):
		return nil, fmt.Errorf("mqtt: no CONNACK within %s", timeout)
	}
	code := 200
	if err := tok.Error(); err != nil {
		ct, _ := tok.(*mqtt.ConnectToken)
		switch {
		case ct != nil && ct.ReturnCode() == 4:
			code = 401
		case ct != nil && ct.ReturnCode() == 5:
			code = 403
		default:
			// no CONNACK: the socket was closed (e.g. the auth backend is
			// down). Never print err with credentials: paho's errors do not
			// carry them.
			return nil, fmt.Errorf("mqtt: %v", err)
		}
	} else {
		cl.Disconnect(0)
	}
	return &http.Response{StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code),
		Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, ContentLength: 0}, nil
}

// provisionDevices registers n devices of this shard through the
// provisioning API (admin JWT → provisioning key → agent).
func provisionDevices(ctx context.Context, e *env, n int) ([]*mqttClient, error) {
	create, redeem, auth, err := provisioningAdmin(ctx, e, "registering devices")
	if err != nil {
		return nil, err
	}
	var out []*mqttClient
	for i := 0; i < n; i++ {
		var k struct {
			Key string `json:"key"`
		}
		resp, err := e.do(ctx, http.MethodPost, create, auth, map[string]any{}, &k)
		if err != nil {
			return out, err
		}
		if resp.StatusCode/100 != 2 || k.Key == "" {
			return out, fmt.Errorf("creating a provisioning key got %d", resp.StatusCode)
		}
		var a struct {
			APIKey       string `json:"apiKey"`
			AgentUUID    string `json:"agentUuid"`
			MQTTPassword string `json:"mqttPassword"`
		}
		resp, err = e.do(ctx, http.MethodPost, redeem, nil,
			map[string]string{"key": k.Key, "agentName": fmt.Sprintf("mqtt-load-%d-%d", e.shard.Index, i)}, &a)
		if err != nil {
			return out, err
		}
		if resp.StatusCode/100 != 2 || a.APIKey == "" || a.MQTTPassword == "" {
			return out, fmt.Errorf("registering a device got %d (license maxDevices?)", resp.StatusCode)
		}
		out = append(out, &mqttClient{uuid: a.AgentUUID, username: a.APIKey, password: a.MQTTPassword})
	}
	return out, nil
}
