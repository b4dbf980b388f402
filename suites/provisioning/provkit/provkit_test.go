package provkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// TestRevealedSecretsAreMasked proves that secrets a response reveals
// (device key, MQTT password, provisioning key, tokens, even a JWT the
// transcript cuts short) never reach an exchange Do records: the client
// masks what it learns from the answer before rendering it, and maskJWTs
// the rest.
func TestRevealedSecretsAreMasked(t *testing.T) {
	const (
		apiKey  = "iotsk_live_dmwjZa44V3XU4bj0qKdjLAPWKflgNynfxSbeQ2y3ZBN"
		mqttPw  = "mqtt-7XtXLS2rKpsGgnvJr22vzWFuqtnZfWV2rbadje1OQPb"
		provKey = "prov_QS8SMhEXOOvRRKFaFgs2o3PgHr9YdHyELTxfMXQK6hQ"
		access  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfYWRtaW4ifQ.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4"
		cutHead = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhdXRoY29uZm9ybS1yZWZlcmVuY2Ui"
	)
	// The unknown field's JWT is cut by the transcript's 600 bytes.
	body := `{"apiKey":"` + apiKey + `","mqttPassword":"` + mqttPw + `","key":"` + provKey + `","accessToken":"` + access + `","zz":"` + strings.Repeat("x", 220) + `","zzz":"` + cutHead + strings.Repeat("A", 300) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	cl := framework.NewClient(spec.MustGet(spec.Iotistica), &spec.Target{BaseURL: srv.URL})
	r, err := cl.Try(context.Background(), framework.Req{Method: http.MethodPost, Path: spec.DefaultProvisioningRedeem, JSON: map[string]string{"key": provKey}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Exchange, "more bytes)") {
		t.Fatalf("the transcript did not cut the body:\n%s", r.Exchange)
	}
	ex := maskJWTs(r.Exchange) // what Do records
	for _, sec := range []string{apiKey, mqttPw, provKey, access, cutHead, apiKey[:20], access[:20], cutHead[:20]} {
		if strings.Contains(ex, sec) {
			t.Errorf("exchange still contains %q…:\n%s", sec[:12], ex)
		}
	}
	if !strings.Contains(ex, "…(masked)") {
		t.Errorf("nothing masked:\n%s", ex)
	}
}
