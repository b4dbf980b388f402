package loadgen

import (
	"context"
	"fmt"
	"net/http"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// jwt-verify: log in once per principal, then the JWT on a protected
// resource.

var jwtVerify = &Scenario{
	Name: "jwt-verify", Help: "log in once, then a protected resource with the JWT",
	Needs: spec.CapLogin, Expect: "success = 2xx", Success: success2xx,
	Prepare: prepareJWT,
}

func prepareJWT(ctx context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "jwt-verify"); err != nil {
		return nil, err
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	var cs []cred
	for _, p := range ps {
		lr, err := login(ctx, e, p)
		if err != nil {
			return nil, err
		}
		cs = append(cs, cred{rel: resourceFor(e.t, p.name), header: "Authorization", value: "Bearer " + lr.access})
	}
	valid, err := probe(ctx, e, http.MethodGet, cs, "JWT")
	if err != nil {
		return nil, err
	}
	var ts []vegeta.Target
	for _, c := range valid {
		ts = append(ts, c.target(e, http.MethodGet, ""))
	}
	return &plan{targeter: roundRobin(ts), fixed: ts, notes: []string{fmt.Sprintf("logged in once per principal; %d JWT(s) in rotation", len(valid))}}, nil
}
