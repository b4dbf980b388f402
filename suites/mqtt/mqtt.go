// Package mqtt holds the MQTT conformance specs (MQTT-001…010, iotistica):
// a real Mosquitto that asks the API whether a device may connect
// (mosquitto-go-auth HTTP protocol). They run where the target has an mqtt
// section: the exec and containers environments (env/mqttenv)
// or a target file with mqtt.address. MQTT-004 also needs an environment
// that can take the auth backend down (framework.BackendControl), and
// MQTT-010 too.
//
// CONNECTs (MQTT 3.1.1 and 5.0) are written and their CONNACKs read by the
// suite itself (RawConnect: every wait bounded, the close after a refusal
// observed); sessions that subscribe use paho.mqtt.golang with MQTT 3.1.1
// (SetProtocolVersion(4): otherwise paho retries a refused CONNECT as MQTT
// 3.1). Every refusal is paired with the same device connecting with its own
// credentials (a positive control): a broker that cannot be reached, or that
// refuses the rightful device, makes the check error, never passed.
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
	// need returns the first n devices of the target file, or skips the
	// spec with the reason.
	need := func(n int) []spec.Device {
		GinkgoHelper()
		if len(devs) < n {
			framework.SkipNotRun("the target lists %d devices; this check needs %d (devices in the target file)", len(devs), n)
		}
		return devs[:n]
	}

	c.It("MQTT-001", "accepts a CONNECT with a device key as username, its MQTT password and clientId agent-{uuid}, over MQTT 3.1.1 and 5.0, because seed 003 says devices connect that way", func(_ SpecContext) {
		d := need(1)[0]
		for _, v := range []int{4, 5} {
			out := RawConnect(addr, creds(d), v)
			if out.Unreachable {
				framework.Inconclusive("the broker at %s cannot be reached: %s", addr, out)
			}
			Expect(out.Accepted).To(BeTrue(), "device %s with its key, its MQTT password and clientId agent-{uuid} must get CONNACK 0; got %s", d.UUID, out)
		}
	}, SpecTimeout(time.Minute))

	type badConnect struct {
		what  string
		creds func() Creds
	}
	c.It("MQTT-002", "refuses a CONNECT with a wrong password, an unknown key or no username (3.1.1: CONNACK 0x04 or 0x05; 5.0: 0x86 or 0x87; or closed without CONNACK) and closes the connection, while the same device connects with its own credentials, because MQTT 3.1.1 §3.2.2.3 and 5.0 §3.2.2.2 say so", func(_ SpecContext) {
		d := need(1)[0]
		control(addr, d, "before the refusals")
		for _, row := range []badConnect{
			{"wrong MQTT password", func() Creds { cr := creds(d); cr.Password = "wrong-" + token(); return cr }},
			{"unknown key with the device prefix", func() Creds {
				cr := creds(d)
				cr.User = c.Profile.DeviceKeyPrefix + "unknown" + token()
				return cr
			}},
			{"no username", func() Creds { return Creds{ClientID: "agent-" + d.UUID} }},
		} {
			for _, v := range []int{4, 5} {
				expectRefused(RawConnect(addr, row.creds(), v), row.what)
			}
		}
		control(addr, d, "after the refusals")
	}, SpecTimeout(2*time.Minute))

	c.It("MQTT-003", "refuses a revoked device key within the documented cache delay (0 s for the reference), while the same key connected before it was revoked and the agent's other key still connects, because a revocation must bite on MQTT as on HTTP", func(ctx SpecContext) {
		rk := newRevocableKey(c, addr, "mqtt-003")
		controlCreds(addr, rk.cr, "the new key before it is revoked")
		rk.revoke()
		own := rk.own
		cr := rk.cr

		delay := c.Target().MQTT.CacheDelay.D()
		var out Outcome
		if delay == 0 {
			out = Connect(addr, cr)
		} else {
			deadline := time.Now().Add(delay + 2*time.Second)
			for {
				out = Connect(addr, cr)
				if !out.Accepted || time.Now().After(deadline) || ctx.Err() != nil {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		if out.Unreachable {
			framework.Inconclusive("the broker at %s cannot be reached after the revocation: %s", addr, out)
		}
		Expect(out.Accepted).To(BeFalse(), "a revoked device key must be refused within the documented cache delay %s; got %s", delay, out)
		// Control: the refusal is the revocation's, not the broker's.
		controlCreds(addr, own, "the same agent's provisioned key after the revocation")
	}, SpecTimeout(time.Minute+cacheDelay(c)))

	// backendControl is the environment's switch of the broker's auth
	// backend (not-run where it has none); the backend is switched back up
	// when the spec ends, whatever happens.
	backendControl := func() framework.BackendControl {
		GinkgoHelper()
		bc, ok := c.Env.(framework.BackendControl)
		if !ok {
			framework.SkipNotRun("the %s environment cannot take the auth backend down; use --env exec or --env containers", c.Env.Name())
		}
		DeferCleanup(func() { _ = bc.SetBackend(context.Background(), framework.BackendUp) })
		return bc
	}

	c.It("MQTT-004", "never accepts a CONNECT while the auth backend is down, slow or answering 5xx, and accepts the same device again once it is back, because the broker must fail closed", func(ctx SpecContext) {
		d := need(1)[0]
		bc := backendControl()
		cr := creds(d)
		control(addr, d, "with the backend up")
		tried := 0
		for _, m := range []framework.BackendMode{framework.BackendDown, framework.BackendSlow, framework.BackendError} {
			if !switchBackend(ctx, c, bc, m) {
				continue
			}
			tried++
			out := Connect(addr, cr)
			if out.Unreachable {
				framework.Inconclusive("backend %s: the broker itself at %s cannot be reached: %s", m, addr, out)
			}
			Expect(out.Accepted).To(BeFalse(), "backend %s: the broker ACCEPTED a device it could not check; it must refuse or close (fail closed); got %s", m, out)
			framework.ControlOK(bc.SetBackend(ctx, framework.BackendUp) == nil, "switching the auth backend back up")
			back := waitAccepted(ctx, addr, cr, BackendRecovery)
			Expect(back.Accepted).To(BeTrue(), "backend back after %s: the device must connect again within %s; got %s", m, BackendRecovery, back)
		}
		if tried == 0 {
			framework.SkipNotRun("the %s environment supports none of the backend modes down, slow, 5xx", c.Env.Name())
		}
	}, SpecTimeout(2*time.Minute))

	c.ItShould("MQTT-005", "denies device A publishing or subscribing under agents/{B}/ and delivers nothing there, while each device publishes and receives on its own topics, because a device may use only its own topics (ref-defined ACL)", func(_ SpecContext) {
		ds := need(2)
		a, b := ds[0], ds[1]
		inA, inB := newInbox(), newInbox()
		bc, out := Dial(addr, creds(b), inB.handler)
		framework.ControlOK(out.Accepted, "device B with its own credentials must connect: %s", out)
		defer bc.Disconnect(0)
		ac, out := Dial(addr, creds(a), inA.handler)
		framework.ControlOK(out.Accepted, "device A with its own credentials must connect: %s", out)
		defer ac.Disconnect(0)
		subscribeControl(bc, "agents/"+b.UUID+"/#", "device B on its own topics")
		subscribeControl(ac, "agents/"+a.UUID+"/#", "device A on its own topics")

		// A subscribing to B's topics: SUBACK 0x80.
		foreignFilter := "agents/" + b.UUID + "/#"
		sa := ac.Subscribe(foreignFilter, 1, nil)
		Expect(sa.WaitTimeout(AckTimeout)).To(BeTrue(), "no SUBACK within %s for device A's subscription to %s", AckTimeout, foreignFilter)
		if sa.Error() == nil {
			if res, ok := sa.(*paho.SubscribeToken).Result()[foreignFilter]; ok {
				Expect(res).To(BeNumerically("==", 0x80), "device A subscribing to device B's topics must get SUBACK 0x80")
			}
		}

		// A publishing under agents/{B}/: B must not receive it. B's own
		// marker, published after A's PUBLISH was acknowledged, arrives
		// after it would have.
		p1 := "mqtt-005-a-" + token()
		publishControl(ac, "agents/"+b.UUID+"/cmd", p1, "device A's PUBLISH under agents/{B}/ (a QoS 1 PUBACK)")
		m1 := "mqtt-005-marker-b-" + token()
		publishControl(bc, "agents/"+b.UUID+"/marker", m1, "device B on its own topic")
		framework.ControlOK(inB.waitFor(m1, AckTimeout), "device B must receive its own PUBLISH on agents/{B}/marker within %s", AckTimeout)
		Expect(inB.has(p1)).To(BeFalse(), "device A's PUBLISH under agents/{B}/ was delivered to B")

		// B publishing on its own topics: A's foreign subscription must
		// not receive it.
		p2 := "mqtt-005-b-" + token()
		publishControl(bc, "agents/"+b.UUID+"/data", p2, "device B on its own topic")
		framework.ControlOK(inB.waitFor(p2, AckTimeout), "device B must receive its own PUBLISH within %s", AckTimeout)
		m2 := "mqtt-005-marker-a-" + token()
		publishControl(ac, "agents/"+a.UUID+"/marker", m2, "device A on its own topic")
		framework.ControlOK(inA.waitFor(m2, AckTimeout), "device A must receive its own PUBLISH on agents/{A}/marker within %s", AckTimeout)
		Expect(inA.has(p2)).To(BeFalse(), "device B's PUBLISH on its own topic was delivered to device A's subscription to agents/{B}/#")
	}, SpecTimeout(time.Minute))

	c.ItShould("MQTT-006", "refuses a CONNECT that uses another agent's clientId, while the same key connects with its own clientId, because seed 003 ties the clientId agent-{uuid} to the device key", func(_ SpecContext) {
		ds := need(2)
		a, b := ds[0], ds[1]
		control(addr, a, "with its own clientId")
		cr := creds(a)
		cr.ClientID = "agent-" + b.UUID
		out := Connect(addr, cr)
		if out.Unreachable {
			framework.Inconclusive("the broker at %s cannot be reached: %s", addr, out)
		}
		Expect(out.Accepted).To(BeFalse(), "device A's key with clientId agent-{B} must be refused; got %s", out)
		control(addr, a, "after the refusal")
	}, SpecTimeout(time.Minute))

	c.It("MQTT-007", "never delivers a PUBLISH sent right behind a CONNECT that is refused, while the same retained PUBLISH behind the device's own CONNECT is delivered, because MQTT 3.1.1 §3.1.4 says the server must not process anything after a refused CONNECT", func(_ SpecContext) {
		a := need(1)[0]
		control(addr, a, "before the attempt")
		base := "agents/" + a.UUID + "/mqtt-007/" + token()
		topic, ctlTopic := base+"/refused", base+"/control"
		payload := []byte("mqtt-007-" + token())
		bad := creds(a)
		bad.Password = "wrong-" + token()
		out := RawConnectThenPublish(addr, bad, topic, payload)
		if out.Unreachable {
			framework.Inconclusive("the broker at %s cannot be reached: %s", addr, out)
		}
		// Control: the same retained PUBLISH behind an accepted CONNECT
		// is processed.
		ctl := RawConnectThenPublish(addr, creds(a), ctlTopic, []byte("control-"+token()))
		framework.ControlOK(ctl.Accepted, "device A's own CONNECT with a retained PUBLISH behind it: %s", ctl)

		// Both PUBLISHes were retained: a subscriber arriving now gets
		// every one the broker processed, in subscription order.
		in := newInbox()
		sc, o2 := Dial(addr, creds(a), in.handler)
		framework.ControlOK(o2.Accepted, "device A (the observer) must connect: %s", o2)
		defer sc.Disconnect(250)
		defer sc.Publish(ctlTopic, 0, true, []byte{}) // clear the retained control message
		subscribeControl(sc, topic, "the observer")
		subscribeControl(sc, ctlTopic, "the observer")
		framework.ControlOK(in.waitTopic(ctlTopic, AckTimeout), "the retained control PUBLISH (behind an accepted CONNECT) must reach the observer within %s", AckTimeout)
		time.Sleep(300 * time.Millisecond)
		if in.hasTopic(topic) {
			Fail(fmt.Sprintf("the PUBLISH behind a CONNECT with a wrong password was delivered (that CONNECT got %s)", out))
		}
		if out.Accepted {
			framework.Inconclusive("the CONNECT with a wrong password was accepted (MQTT-002's failure), so no refused CONNECT could be tested; got %s", out)
		}
	}, SpecTimeout(time.Minute))

	c.ItShould("MQTT-008", "stops a device that is connected and subscribed when its key is revoked: within the documented cache delay its next PUBLISH is not processed (neither delivered nor retained) and it receives nothing more (no retained message on a new subscription), while before the revocation the same session published, received and got retained messages and the agent's other key connects after, because the ACL check on every message must see the revocation (mosquitto-go-auth cache_refresh, mosquitto-auth-plug #155: revoked devices stay in)", func(ctx SpecContext) {
		rk := newRevocableKey(c, addr, "mqtt-008")
		in := newInbox()
		sess, out := Dial(addr, rk.cr, in.handler)
		framework.ControlOK(out.Accepted, "the new key before it is revoked must connect (see MQTT-001): %s", out)
		defer func() {
			if sess.IsConnected() {
				sess.Disconnect(0)
			}
		}()
		base := "agents/" + rk.agentUUID + "/mqtt-008/" + token()
		before, after := base+"/before", base+"/after"
		subscribeControl(sess, base+"/#", "the new key before it is revoked")
		p0 := "mqtt-008-before-" + token()
		publishRetainedControl(sess, before, p0, "the new key's retained PUBLISH before the revocation")
		framework.ControlOK(in.waitFor(p0, AckTimeout), "the session must receive its own PUBLISH on %s before the revocation within %s", before, AckTimeout)
		// The mechanism the assertion after the revocation relies on: a
		// new subscription gets the retained message.
		subscribeControl(sess, before, "the new key before it is revoked (a new subscription)")
		framework.ControlOK(in.waitRetained(before, 0, AckTimeout), "a new subscription to %s before the revocation must deliver its retained message within %s", before, AckTimeout)

		rk.revoke()
		if d := cacheDelay(c); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				framework.Inconclusive("interrupted while waiting the documented cache delay %s", d)
			}
		}
		mark := in.count()
		p1 := "mqtt-008-after-" + token()
		if sess.IsConnected() {
			// A PUBACK, an error or a closed connection are all fine: what
			// counts is whether the broker processed the message.
			sess.Publish(after, 1, true, p1).WaitTimeout(AckTimeout)
			st := sess.Subscribe(base+"/+", 1, nil)
			if st.WaitTimeout(AckTimeout) && st.Error() == nil {
				if res, ok := st.(*paho.SubscribeToken).Result()[base+"/+"]; ok {
					framework.Info("the revoked key's SUBSCRIBE to %s got SUBACK 0x%02x", base+"/+", res)
				}
			}
			time.Sleep(500 * time.Millisecond)
		} else {
			framework.Info("the broker disconnected the session when its key was revoked")
		}
		Expect(in.has(p1)).To(BeFalse(), "the revoked key's PUBLISH on %s (sent %s after the revocation) was delivered to its own subscription", after, cacheDelay(c))
		Expect(in.retainedSince(mark, before)).To(BeFalse(), "after the revocation, the revoked key's new subscription %s still delivered the retained message of %s", base+"/+", before)
		if sess.IsConnected() {
			sess.Disconnect(0)
		}

		// Observer: the agent's provisioned key (same clientId, so only
		// once the session is gone). It subscribes to the revoked topic
		// first: its retained message, had the broker stored it, would
		// arrive before the control's.
		obs := newInbox()
		oc, o2 := Dial(addr, rk.own, obs.handler)
		framework.ControlOK(o2.Accepted, "the same agent's provisioned key after the revocation must connect (see MQTT-001): %s", o2)
		defer oc.Disconnect(250)
		defer oc.Publish(after, 0, true, []byte{})
		defer oc.Publish(before, 0, true, []byte{})
		subscribeControl(oc, after, "the agent's provisioned key")
		subscribeControl(oc, before, "the agent's provisioned key")
		framework.ControlOK(obs.waitTopic(before, AckTimeout), "the retained PUBLISH of the new key before its revocation must reach the agent's provisioned key within %s", AckTimeout)
		time.Sleep(300 * time.Millisecond)
		Expect(obs.hasTopic(after)).To(BeFalse(), "the revoked key's retained PUBLISH on %s was processed by the broker (retained, delivered to the agent's other key)", after)
	}, SpecTimeout(time.Minute+cacheDelay(c)))

	c.It("MQTT-009", "accepts the device's own key and MQTT password right after a CONNECT with a wrong password was refused, over MQTT 3.1.1 and 5.0, while the same device connects before, because seed 003's device connects with its key and MQTT password (as MQTT-001) and a cached refusal must not lock a valid device out (mosquitto-go-auth #226, #278)", func(_ SpecContext) {
		d := need(1)[0]
		control(addr, d, "before the attempts")
		for _, v := range []int{4, 5} {
			bad := creds(d)
			bad.Password = "wrong-" + token()
			wrong := RawConnect(addr, bad, v)
			if wrong.Unreachable {
				framework.Inconclusive("the broker at %s cannot be reached: %s", addr, wrong)
			}
			if wrong.Accepted {
				framework.Inconclusive("the CONNECT with a wrong password was accepted (MQTT-002's failure), so no refusal could be followed; got %s", wrong)
			}
			right := RawConnect(addr, creds(d), v)
			if right.Unreachable {
				framework.Inconclusive("the broker at %s cannot be reached after the refusal: %s", addr, right)
			}
			Expect(right.Accepted).To(BeTrue(), "device %s with its own key and MQTT password right after a refused wrong password (%s) must get CONNACK 0 (no cached refusal); got %s", d.UUID, wrong, right)
		}
	}, SpecTimeout(time.Minute))

	c.ItShould("MQTT-010", "answers a CONNECT while the auth backend is down or answering 5xx with 3.1.1 CONNACK 0x03 / 5.0 0x88 (server unavailable) or a close without CONNACK, never with a bad-credentials or not-authorized code, while the same device connects with the backend up before and after, because a device told its credentials are bad may discard them when the API merely restarted (MQTT 3.1.1 §3.2.2.3, 5.0 §3.2.2.2)", func(ctx SpecContext) {
		d := need(1)[0]
		bc := backendControl()
		cr := creds(d)
		control(addr, d, "with the backend up")
		tried := 0
		for _, m := range []framework.BackendMode{framework.BackendDown, framework.BackendError} {
			if !switchBackend(ctx, c, bc, m) {
				continue
			}
			tried++
			for _, v := range []int{4, 5} {
				out := RawConnect(addr, cr, v)
				if out.Unreachable {
					framework.Inconclusive("backend %s: the broker itself at %s cannot be reached: %s", m, addr, out)
				}
				Expect(out.Accepted).To(BeFalse(), "backend %s: the broker ACCEPTED a device it could not check (MQTT-004's failure); got %s", m, out)
				badCreds := (v == 4 && out.Refused()) || (v == 5 && out.Refused5())
				Expect(badCreds).To(BeFalse(), "backend %s: the device's valid credentials were refused as bad or not authorized; want 3.1.1 0x03 / 5.0 0x88 (server unavailable) or a close without CONNACK; got %s", m, out)
				switch {
				case out.Code < 0 && out.Closed, v == 4 && out.Code == 0x03, v == 5 && out.Code == 0x88:
				default:
					framework.Info("backend %s: %s (neither server unavailable nor a close without CONNACK, but not a credentials refusal)", m, out)
				}
			}
			framework.ControlOK(bc.SetBackend(ctx, framework.BackendUp) == nil, "switching the auth backend back up")
			back := waitAccepted(ctx, addr, cr, BackendRecovery)
			framework.ControlOK(back.Accepted, "backend back after %s: the device must connect again within %s (see MQTT-004); got %s", m, BackendRecovery, back)
		}
		if tried == 0 {
			framework.SkipNotRun("the %s environment supports neither backend mode down nor 5xx", c.Env.Name())
		}
	}, SpecTimeout(2*time.Minute))
})

// cacheDelay is the target's documented auth-cache delay (0 without a
// broker).
func cacheDelay(c *framework.Ctx) time.Duration {
	if m := c.Target().MQTT; m != nil {
		return m.CacheDelay.D()
	}
	return 0
}

// control asserts that device d connects with its own key, MQTT password
// and clientId: the positive control of every refusal (a refusal means
// nothing while the broker cannot be reached or refuses everyone).
func control(addr string, d spec.Device, when string) {
	GinkgoHelper()
	controlCreds(addr, creds(d), fmt.Sprintf("device %s with its own key, MQTT password and clientId agent-{uuid} %s", d.UUID, when))
}

func controlCreds(addr string, cr Creds, what string) {
	GinkgoHelper()
	out := Connect(addr, cr)
	framework.ControlOK(out.Accepted, "%s must get CONNACK 0 (see MQTT-001); got %s", what, spec.OneLine(out.String()))
}

// expectRefused is MQTT-002's assertion on one refused CONNECT: never
// accepted; a CONNACK, when sent, carries the bad-credentials code of its
// version; the connection is closed either way (a close without CONNACK is
// allowed: MQTT 3.1.1 [MQTT-3.2.2-6]).
func expectRefused(out Outcome, what string) {
	GinkgoHelper()
	if out.Unreachable {
		framework.Inconclusive("%s: the broker cannot be reached: %s", what, out)
	}
	Expect(out.Accepted).To(BeFalse(), "%s must be refused; got %s", what, out)
	switch {
	case out.Code >= 0 && out.Version == 5:
		Expect(out.Refused5()).To(BeTrue(), "%s, MQTT 5.0: a refusing CONNACK must carry reason 0x86 or 0x87 (§3.2.2.2); got %s", what, out)
	case out.Code >= 0:
		Expect(out.Refused()).To(BeTrue(), "%s, MQTT 3.1.1: a refusing CONNACK must carry 0x04 or 0x05 (§3.2.2.3); got %s", what, out)
	default:
		framework.Info("%s: the broker closed the connection without a CONNACK (%s)", what, out)
	}
	Expect(out.Closed).To(BeTrue(), "%s: after refusing, the broker must close the connection (MQTT 3.1.1 [MQTT-3.2.2-5]); got %s", what, out)
}

// switchBackend switches the auth backend to m, as a control; false (and
// an INFO line) when the environment cannot (MQTT-004, MQTT-010).
func switchBackend(ctx context.Context, c *framework.Ctx, bc framework.BackendControl, m framework.BackendMode) bool {
	GinkgoHelper()
	err := bc.SetBackend(ctx, m)
	if errors.Is(err, framework.ErrBackendUnsupported) {
		framework.Info("backend mode %q not available in the %s environment", m, c.Env.Name())
		return false
	}
	framework.ControlOK(err == nil, "switching the auth backend to %s: %v", m, err)
	return true
}

// waitAccepted connects with cr until accepted, for at most d.
func waitAccepted(ctx context.Context, addr string, cr Creds, d time.Duration) Outcome {
	var out Outcome
	deadline := time.Now().Add(d)
	for {
		out = Connect(addr, cr)
		if out.Accepted || time.Now().After(deadline) || ctx.Err() != nil {
			return out
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// revocableKey is a second device key that a check created for an agent it
// registered: cr connects with it, own with the agent's provisioned key
// (the control that outlives the revocation); revoke revokes cr's key.
type revocableKey struct {
	own, cr   Creds
	agentUUID string
	revoke    func()
}

// newRevocableKey registers an agent (tag names it), creates a second
// device key for it and returns both, or skips the spec with the reason
// when the target cannot provision, create or revoke keys.
func newRevocableKey(c *framework.Ctx, addr, tag string) revocableKey {
	GinkgoHelper()
	in := provkit.Target(c)
	admin := in.AdminAuth()
	agent := in.NewAgent(admin, tag)
	if agent.MQTTPassword == "" {
		framework.SkipNotApplicable("POST %s returned no mqttPassword (ref-defined): the suite cannot connect the device it provisioned", provkit.RedeemPath(c))
	}
	in.Cl.AddSecret(agent.APIKey, agent.MQTTPassword)
	r := in.CreateDeviceKeyResp(admin, agent.AgentUUID)
	framework.Control(r, "POST "+c.Profile.Keys.Create+" with an admin JWT for the new agent", provkit.Created...)
	key, err := in.DeviceKeyFrom(r)
	framework.ControlOK(err == nil, "%v\n%s", err, r.Exchange)
	if key.ID == "" {
		framework.SkipNotApplicable("POST %s returned no ref-defined id for the new key: the suite cannot revoke it\n%s", c.Profile.Keys.Create, r.Exchange)
	}
	mgmt := c.KeyMgmt()
	if mgmt.Revoke.IsZero() {
		framework.SkipNotApplicable("no endpoint to revoke a device key (keyAPI.revoke in the target file)")
	}
	own := Creds{ClientID: "agent-" + agent.AgentUUID, User: agent.APIKey, Password: agent.MQTTPassword}
	cr := Creds{ClientID: "agent-" + agent.AgentUUID, User: key.APIKey, Password: key.MQTTPassword}
	if key.MQTTPassword == "" {
		// The MQTT password may be the agent's rather than the key's.
		cr.Password = agent.MQTTPassword
		if out := Connect(addr, cr); !out.Accepted && !out.Unreachable {
			framework.SkipNotApplicable("POST %s returned no ref-defined mqttPassword for the new key, and the key does not connect with the agent's (%s)", c.Profile.Keys.Create, out)
		}
	}
	return revocableKey{own: own, cr: cr, agentUUID: agent.AgentUUID, revoke: func() {
		GinkgoHelper()
		del := in.Do(framework.Req{Method: mgmt.Revoke.Method, Path: mgmt.RevokePath(key.ID), Header: admin})
		if !mgmt.Declared && (del.Status == http.StatusNotFound || del.Status == http.StatusMethodNotAllowed) {
			framework.SkipNotApplicable("the ref-defined %s answered %d: the suite cannot revoke a device key (declare keyAPI.revoke in the target file)", mgmt.Revoke, del.Status)
		}
		framework.Control(del, "revoking the device key ("+mgmt.Revoke.String()+")", http.StatusOK, http.StatusNoContent)
	}}
}

func publishRetainedControl(cl paho.Client, topic, payload, what string) {
	GinkgoHelper()
	pt := cl.Publish(topic, 1, true, payload)
	framework.ControlOK(pt.WaitTimeout(AckTimeout), "%s: no PUBACK within %s", what, AckTimeout)
	framework.ControlOK(pt.Error() == nil, "%s: %v", what, pt.Error())
}

func subscribeControl(cl paho.Client, filter, who string) {
	GinkgoHelper()
	st := cl.Subscribe(filter, 1, nil)
	framework.ControlOK(st.WaitTimeout(AckTimeout), "%s: no SUBACK for %s within %s", who, filter, AckTimeout)
	framework.ControlOK(st.Error() == nil, "%s: subscribing to %s: %v", who, filter, st.Error())
	res, ok := st.(*paho.SubscribeToken).Result()[filter]
	framework.ControlOK(ok && res < 0x80, "%s must be allowed to subscribe to %s (SUBACK %d)", who, filter, res)
}

func publishControl(cl paho.Client, topic, payload, what string) {
	GinkgoHelper()
	pt := cl.Publish(topic, 1, false, payload)
	framework.ControlOK(pt.WaitTimeout(AckTimeout), "%s: no PUBACK within %s", what, AckTimeout)
	framework.ControlOK(pt.Error() == nil, "%s: %v", what, pt.Error())
}

// inbox collects the messages a paho client receives.
type inbox struct {
	mu  sync.Mutex
	got []paho.Message
}

func newInbox() *inbox { return &inbox{} }

func (in *inbox) handler(_ paho.Client, m paho.Message) {
	in.mu.Lock()
	in.got = append(in.got, m)
	in.mu.Unlock()
}

func (in *inbox) match(f func(paho.Message) bool) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.got {
		if f(m) {
			return true
		}
	}
	return false
}

func (in *inbox) has(payload string) bool {
	return in.match(func(m paho.Message) bool { return string(m.Payload()) == payload })
}

func (in *inbox) hasTopic(topic string) bool {
	return in.match(func(m paho.Message) bool { return m.Topic() == topic && len(m.Payload()) > 0 })
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.got)
}

// retainedSince reports whether a message with the retain flag (sent
// because of a new subscription, MQTT 3.1.1 [MQTT-3.3.1-8]) arrived on
// topic after the first mark messages.
func (in *inbox) retainedSince(mark int, topic string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.got[min(mark, len(in.got)):] {
		if m.Topic() == topic && m.Retained() && len(m.Payload()) > 0 {
			return true
		}
	}
	return false
}

func (in *inbox) waitRetained(topic string, mark int, d time.Duration) bool {
	return in.wait(func() bool { return in.retainedSince(mark, topic) }, d)
}

func (in *inbox) wait(f func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (in *inbox) waitFor(payload string, d time.Duration) bool {
	return in.wait(func() bool { return in.has(payload) }, d)
}

func (in *inbox) waitTopic(topic string, d time.Duration) bool {
	return in.wait(func() bool { return in.hasTopic(topic) }, d)
}
