// Package mqtt holds the MQTT conformance specs (MQTT-001…007, iotistica):
// a real Mosquitto that asks the API whether a device may connect
// (mosquitto-go-auth HTTP protocol). They run where the target has an mqtt
// section: the exec and containers environments (suites/containers/mqttenv)
// or a target file with mqtt.address. MQTT-004 also needs an environment
// that can take the auth backend down (mqttenv.BackendControl).
//
// Clients are paho.mqtt.golang with MQTT 3.1.1 (SetProtocolVersion(4):
// otherwise paho retries a refused CONNECT as MQTT 3.1), paho.golang for
// MQTT 5.0 reason codes (MQTT-001, MQTT-002), plus a raw CONNECT+PUBLISH
// writer for MQTT-007.
package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/containers/mqttenv"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/provisioning/provkit"
)

// BackendRecovery bounds how long the broker may take to accept devices
// again once the auth backend is back.
const BackendRecovery = 20 * time.Second

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func creds(d spec.Device) Creds {
	return Creds{ClientID: "agent-" + d.UUID, User: d.APIKey, Password: d.MQTTPassword}
}

var _ = framework.Area("mqtt", func(c *framework.Ctx) {
	var addr string
	var devs []spec.Device
	BeforeEach(func() {
		if m := c.Target().MQTT; m != nil {
			addr = m.Address
		}
		devs = c.Target().Devices
	})

	c.It("MQTT-001", "accepts a CONNECT with a device key as username, its MQTT password and clientId agent-{uuid}, because seed 003 says devices connect that way", func() {
		out := Connect(addr, creds(devs[0]))
		Expect(out.Accepted).To(BeTrue(), "device %s with its key and MQTT password must get CONNACK 0 (MQTT 3.1.1); got %s", devs[0].UUID, out)
		out5 := Connect5(addr, creds(devs[0]))
		Expect(out5.Accepted).To(BeTrue(), "device %s must get CONNACK 0 over MQTT 5.0 too; got %s", devs[0].UUID, out5)
	})

	type badConnect struct {
		what  string
		creds func() Creds
	}
	c.It("MQTT-002", "refuses a CONNECT with a wrong password, an unknown key or no username with CONNACK 4 or 5 and closes the connection, because MQTT 3.1.1 §3.2.2.3 says so", func() {
		d := devs[0]
		for _, row := range []badConnect{
			{"wrong MQTT password", func() Creds { cr := creds(d); cr.Password = "wrong-" + token(); return cr }},
			{"unknown key with the device prefix", func() Creds {
				cr := creds(d)
				cr.User = c.Profile.DeviceKeyPrefix + "unknown" + token()
				return cr
			}},
			{"no username", func() Creds { return Creds{ClientID: "agent-" + d.UUID} }},
		} {
			out := Connect(addr, row.creds())
			Expect(out.Refused()).To(BeTrue(), "%s, MQTT 3.1.1: want CONNACK 4 or 5 (§3.2.2.3); got %s", row.what, out)
			out5 := Connect5(addr, row.creds())
			Expect(out5.Refused5()).To(BeTrue(), "%s, MQTT 5.0: want CONNACK reason 0x86 or 0x87; got %s", row.what, out5)
		}
	})

	c.It("MQTT-003", "refuses a revoked device key within the documented cache delay (0 s for the reference), because a revocation must bite on MQTT as on HTTP", func() {
		in := provkit.Target(c)
		admin := in.AdminAuth()
		pk := in.CreateKey(admin, nil)
		dev := in.Redeem(pk.Key, provkit.AgentName("mqtt-003"))
		in.Cl.AddSecret(dev.APIKey, dev.MQTTPassword)
		cr := Creds{ClientID: "agent-" + dev.AgentUUID, User: dev.APIKey, Password: dev.MQTTPassword}
		precondition(Connect(addr, cr), "a freshly provisioned device")

		r := in.Get("/auth/api-keys", admin)
		Expect(r).To(framework.HaveStatus(http.StatusOK), "listing device keys as admin")
		var id string
		for _, k := range listOf(r) {
			if k["agentUuid"] == dev.AgentUUID {
				id, _ = k["id"].(string)
			}
		}
		Expect(id).NotTo(BeEmpty(), "the new agent's key must be listed\n%s", r.Exchange)
		del := in.Do(framework.Req{Method: http.MethodDelete, Path: "/auth/api-keys/" + id, Header: admin})
		Expect(del).To(framework.HaveStatus(http.StatusOK, http.StatusNoContent), "revoking the device key")

		delay := c.Target().MQTT.CacheDelay.D()
		if delay == 0 {
			out := Connect(addr, cr)
			Expect(out.Accepted).To(BeFalse(), "the CONNECT right after revoking the key must be refused (cache delay 0); got %s", out)
			return
		}
		Eventually(func() bool { return Connect(addr, cr).Accepted }).WithTimeout(delay+2*time.Second).
			WithPolling(500*time.Millisecond).Should(BeFalse(), "a revoked key must be refused within the documented cache delay %s", delay)
	})

	c.It("MQTT-004", "never accepts a CONNECT while the auth backend is down, slow or answering 5xx, and accepts again once it is back, because the broker must fail closed", func(ctx SpecContext) {
		bc, ok := c.Env.(mqttenv.BackendControl)
		if !ok {
			Skip(fmt.Sprintf("the %s environment cannot take the auth backend down; use --env exec or --env containers", c.Env.Name()))
		}
		DeferCleanup(func() { _ = bc.SetBackend(context.Background(), mqttenv.Up) })
		cr := creds(devs[0])
		precondition(Connect(addr, cr), "a valid device with the backend up")
		tried := 0
		for _, m := range []mqttenv.Mode{mqttenv.Down, mqttenv.Slow, mqttenv.Error} {
			err := bc.SetBackend(ctx, m)
			if errors.Is(err, mqttenv.ErrUnsupported) {
				AddReportEntry("MQTT-004", fmt.Sprintf("backend mode %q not available in the %s environment", m, c.Env.Name()))
				continue
			}
			Expect(err).NotTo(HaveOccurred())
			tried++
			out := Connect(addr, cr)
			Expect(out.Accepted).To(BeFalse(), "backend %s: the broker ACCEPTED a device it could not check; it must refuse or close (fail closed)", m)
			Expect(bc.SetBackend(ctx, mqttenv.Up)).To(Succeed())
			Eventually(func() bool { return Connect(addr, cr).Accepted }).WithContext(ctx).WithTimeout(BackendRecovery).
				WithPolling(300*time.Millisecond).Should(BeTrue(), "backend back after %s: the device must connect again", m)
		}
		Expect(tried).To(BeNumerically(">", 0))
	}, SpecTimeout(2*time.Minute))

	c.ItShould("MQTT-005", "denies device A publishing or subscribing under agents/{B}/ and delivers nothing there, because a device may use only its own topics (ref-defined ACL)", func() {
		a, b := devs[0], devs[1]
		var mu sync.Mutex
		var got []string
		bc, out := Dial(addr, creds(b), nil)
		precondition(out, "device B")
		defer bc.Disconnect(0)
		own := "agents/" + b.UUID + "/#"
		st := bc.Subscribe(own, 1, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got = append(got, string(m.Payload()))
			mu.Unlock()
		})
		Expect(st.WaitTimeout(5 * time.Second)).To(BeTrue())
		Expect(st.Error()).NotTo(HaveOccurred())
		Expect(st.(*paho.SubscribeToken).Result()[own]).To(BeNumerically("<", 0x80), "device B must be allowed to subscribe to its own topics")

		ac, out := Dial(addr, creds(a), nil)
		precondition(out, "device A")
		defer ac.Disconnect(0)
		foreign := "agents/" + b.UUID + "/cmd"
		sa := ac.Subscribe("agents/"+b.UUID+"/#", 1, nil)
		if sa.WaitTimeout(5 * time.Second) {
			if res, ok := sa.(*paho.SubscribeToken).Result()["agents/"+b.UUID+"/#"]; ok && sa.Error() == nil {
				Expect(res).To(BeNumerically("==", 0x80), "device A subscribing to device B's topics must get SUBACK 0x80")
			}
		}
		payload := "mqtt-005-" + token()
		pt := ac.Publish(foreign, 1, false, payload)
		pt.WaitTimeout(5 * time.Second)
		Consistently(func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }).
			WithTimeout(1500*time.Millisecond).WithPolling(100*time.Millisecond).ShouldNot(ContainElement(payload),
			"device A's publish under agents/{B}/ must not be delivered to B")
	})

	c.ItShould("MQTT-006", "refuses a CONNECT that uses another agent's clientId, because seed 003 ties the clientId agent-{uuid} to the device key", func() {
		a, b := devs[0], devs[1]
		cr := creds(a)
		cr.ClientID = "agent-" + b.UUID
		out := Connect(addr, cr)
		Expect(out.Accepted).To(BeFalse(), "device A's key with clientId agent-{B} must be refused; got %s", out)
	})

	c.It("MQTT-007", "never delivers a PUBLISH sent right behind a CONNECT that is refused, because MQTT 3.1.1 §3.1.4 says the server must not process anything after a refused CONNECT", func() {
		a := devs[0]
		topic := "agents/" + a.UUID + "/mqtt-007/" + token()
		payload := []byte("mqtt-007-" + token())
		bad := creds(a)
		bad.Password = "wrong-" + token()
		out, err := RawConnectThenPublish(addr, bad, topic, payload)
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Accepted).To(BeFalse(), "the CONNECT with a wrong password must be refused; got %s", out)
		// The PUBLISH was retained: had the broker processed it, a
		// subscriber arriving now would receive it.
		var mu sync.Mutex
		var got [][]byte
		sc, o2 := Dial(addr, creds(a), nil)
		precondition(o2, "device A (the observer)")
		defer sc.Disconnect(0)
		st := sc.Subscribe(topic, 0, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got = append(got, m.Payload())
			mu.Unlock()
		})
		Expect(st.WaitTimeout(5 * time.Second)).To(BeTrue())
		Consistently(func() int { mu.Lock(); defer mu.Unlock(); return len(got) }).WithTimeout(1500*time.Millisecond).
			WithPolling(100*time.Millisecond).Should(BeZero(), "the PUBLISH behind a refused CONNECT was delivered")
	})
})

// precondition skips the spec when a valid device cannot connect: that is
// MQTT-001's failure, and this check cannot be judged without it.
func precondition(out Outcome, what string) {
	GinkgoHelper()
	if !out.Accepted {
		Skip(fmt.Sprintf("precondition failed: %s did not connect (%s); see MQTT-001", what, oneLine(out.String())))
	}
}

func listOf(r *framework.Resp) []map[string]any {
	var out []map[string]any
	_ = jsonUnmarshal(r.Body, &out)
	return out
}
