package provkit

import (
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// TestRememberMasksRevealedSecrets proves that secrets a response reveals
// (device key, MQTT password, provisioning key, tokens, even a token the
// transcript cut short) never reach a recorded exchange.
func TestRememberMasksRevealedSecrets(t *testing.T) {
	const (
		apiKey  = "iotsk_live_dmwjZa44V3XU4bj0qKdjLAPWKflgNynfxSbeQ2y3ZBN"
		mqttPw  = "mqtt-7XtXLS2rKpsGgnvJr22vzWFuqtnZfWV2rbadje1OQPb"
		provKey = "prov_QS8SMhEXOOvRRKFaFgs2o3PgHr9YdHyELTxfMXQK6hQ"
		access  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfYWRtaW4ifQ.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4"
		cutHead = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhdXRoY29uZm9ybS1yZWZlcmVuY2Ui"
	)
	body := `{"apiKey":"` + apiKey + `","mqttPassword":"` + mqttPw + `","key":"` + provKey + `","accessToken":"` + access + `"}`
	r := &framework.Resp{
		Status:   201,
		Body:     []byte(body),
		Exchange: "> POST /api/v1/provision/agent\n< 201 Created\n<\n< " + body + `,"refreshToken":"` + cutHead + "…(300 more bytes)\n",
	}
	cl := &framework.Client{Profile: spec.MustGet(spec.Iotistica)}
	remember(cl, r)
	for _, sec := range []string{apiKey, mqttPw, provKey, access, cutHead, apiKey[:20], access[:20]} {
		if strings.Contains(r.Exchange, sec) {
			t.Errorf("exchange still contains %q…:\n%s", sec[:12], r.Exchange)
		}
	}
	if !strings.Contains(r.Exchange, "…(masked)") {
		t.Errorf("nothing masked:\n%s", r.Exchange)
	}
}
