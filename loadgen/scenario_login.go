package loadgen

import (
	"context"
	"encoding/json"
	"net/http"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// login: the login endpoint, bound by password hashing.

var loginScenario = &Scenario{
	Name: "login", Help: "the login endpoint (bound by password hashing)",
	Needs: spec.CapLogin, Expect: "success = 2xx", Success: success2xx,
	// password hashing: the reference manages ~20/s on 2 cores
	Defaults: Defaults{Rate: func(*spec.Target) float64 { return 10 }},
	Prepare:  prepareLogin,
}

func prepareLogin(_ context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "login"); err != nil {
		return nil, err
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	var ts []vegeta.Target
	for _, p := range ps {
		b, _ := json.Marshal(loginBody(p))
		ts = append(ts, vegeta.Target{Method: http.MethodPost, URL: e.url(e.p.Login.Path), Body: b,
			Header: http.Header{"Content-Type": {"application/json"}}})
	}
	return &plan{targeter: roundRobin(ts), fixed: ts, notes: []string{
		"login is bound by password hashing (a deliberately slow KDF such as bcrypt): its throughput measures the hash, not the auth path; compare it with jwt-verify",
	}}, nil
}
