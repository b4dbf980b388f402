package execbroker_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconform/authconform/env/gate"
	"github.com/authconform/authconform/suites/mqtt"

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

// TestBackendFailureIsNotNotAuthorized (MQTT-010, in a real Mosquitto):
// with the API down or answering 503, a valid device's CONNECT over MQTT
// 3.1.1 and 5.0 is closed without CONNACK (the plugin returns
// MOSQ_ERR_UNKNOWN), never refused as not authorized (0x05 / 0x87),
// while the same CONNECT with the API up is accepted.
func TestBackendFailureIsNotNotAuthorized(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	ref := startReference(t)
	d := ref.Target.Devices[0]
	cr := mqtt.Creds{ClientID: "agent-" + d.UUID, User: d.APIKey, Password: d.MQTTPassword}
	var mode atomic.Int32 // 0 forward, 1 answer 503
	target, _ := url.Parse(ref.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mode.Load() == 1 {
			http.Error(w, "failing on purpose", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	for _, c := range []struct {
		name, api string
		mode      int32
	}{{"API up", front.URL, 0}, {"API answering 503", front.URL, 1}, {"API down", dead, 0}} {
		mode.Store(c.mode)
		b := startBroker(t, execbroker.WithAPIURL(c.api), execbroker.WithPluginOptions(map[string]string{"http_timeout": "500ms"}))
		for _, v := range []int{4, 5} {
			out := mqtt.RawConnect(b.Address, cr, v)
			if out.Unreachable {
				t.Fatalf("%s: broker unreachable: %s", c.name, out)
			}
			if c.name == "API up" {
				if !out.Accepted {
					t.Errorf("%s: valid device refused: %s\n%s", c.name, out, b.Logs())
				}
				continue
			}
			if out.Accepted || out.Code >= 0 || !out.Closed {
				t.Errorf("%s: got %s, want the connection closed without CONNACK (never accepted, never 0x05/0x87)", c.name, out)
			}
		}
		_ = b.Terminate(context.Background())
	}
}

// TestStickyRefusalsMutant: with sticky_refusals the right password right
// after a wrong one is refused (the defect MQTT-009 must catch), once;
// without it the same sequence connects.
func TestStickyRefusalsMutant(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	ref := startReference(t)
	d := ref.Target.Devices[0]
	good := mqtt.Creds{ClientID: "agent-" + d.UUID, User: d.APIKey, Password: d.MQTTPassword}
	bad := good
	bad.Password = "wrong"
	for _, sticky := range []bool{false, true} {
		opts := []execbroker.Option{execbroker.WithAPIURL(ref.URL)}
		if sticky {
			opts = append(opts, execbroker.WithPluginOptions(map[string]string{"sticky_refusals": "true"}))
		}
		b := startBroker(t, opts...)
		if out := mqtt.Connect(b.Address, bad); out.Accepted || out.Unreachable {
			t.Fatalf("sticky=%v: wrong password: %s", sticky, out)
		}
		out := mqtt.Connect(b.Address, good)
		if out.Accepted == sticky {
			t.Errorf("sticky=%v: right password right after a wrong one: %s", sticky, out)
		}
		if out := mqtt.Connect(b.Address, good); !out.Accepted {
			t.Errorf("sticky=%v: right password a second time: %s", sticky, out)
		}
		_ = b.Terminate(context.Background())
	}
}

// TestTricklingBackendIsRefused (issue 11, in a real Mosquitto): an API
// that writes its 200 in two pieces, each 0.8 × http_timeout after the
// last, is a backend error: the CONNECT is closed without CONNACK, never
// accepted after 1.6 × the timeout.
func TestTricklingBackendIsRefused(t *testing.T) {
	gate.SkipUnless(t, execbroker.Available())
	const timeout = 400 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				for _, piece := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 0\r\n\r\n"} {
					time.Sleep(timeout * 8 / 10)
					if _, err := c.Write([]byte(piece)); err != nil {
						return
					}
				}
				time.Sleep(time.Second)
			}(c)
		}
	}()
	b := startBroker(t, execbroker.WithAPIURL("http://"+ln.Addr().String()), execbroker.WithPluginOptions(map[string]string{"http_timeout": timeout.String()}))
	out := mqtt.RawConnect(b.Address, mqtt.Creds{ClientID: "agent-x", User: "iotsk_live_x", Password: "p"}, 4)
	if out.Unreachable || out.Accepted || out.Code >= 0 {
		t.Errorf("trickling API: got %s, want the connection closed without CONNACK", out)
	}
}
