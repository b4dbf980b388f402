package handler

import (
	"net/http"
	"strings"
	"testing"

	jwt "github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/authconformtest"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// TestConformance checks the API for two profiles: two runs in one test
// binary. `go test -run 'Conformance/roboticks/JWT-003'` runs one check.
func TestConformance(t *testing.T) {
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox} {
		h, fix, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		authconformtest.Run(t, authconformtest.Target{Handler: h, Fixtures: fix, Deploy: Deployer(p)})
	}
}

// TestDefectCaught proves the suite catches a defect in the API under
// test: a middleware that accepts unsigned (alg "none") access tokens by
// re-signing them makes the run non-conformant, with JWT-003 failed. The
// same check against the API without the middleware passes (control).
func TestDefectCaught(t *testing.T) {
	h, fix, err := New(spec.Roboticks)
	if err != nil {
		t.Fatal(err)
	}
	if fix.Control.JWTSecret == "" {
		t.Fatal("the roboticks fixtures have no control.jwtSecret: the defect needs the HS256 secret")
	}
	opts := authconformtest.Options{LabelFilter: "JWT-003"}
	clean, err := authconformtest.Check(authconformtest.Target{Handler: h, Fixtures: fix}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, clean, "JWT-003"); got != framework.Passed || clean.Verdict == framework.NonConformant {
		t.Fatalf("control: without the defect JWT-003 is %s and the run %s; want passed, not non-conformant", got, clean.Verdict)
	}
	bad, err := authconformtest.Check(authconformtest.Target{Handler: acceptAlgNone(h, fix.Control.JWTSecret), Fixtures: fix}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Verdict != framework.NonConformant {
		t.Errorf("verdict with the alg-none defect: %s, want %s", bad.Verdict, framework.NonConformant)
	}
	if got := status(t, bad, "JWT-003"); got != framework.Failed {
		t.Errorf("JWT-003 with the alg-none defect: %s, want %s", got, framework.Failed)
	}
}

// status is the status of check id in the report's roboticks results.
func status(t *testing.T, rep *framework.RunReport, id string) string {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id && c.Profile == string(spec.Roboticks) {
			return c.Status
		}
	}
	t.Fatalf("no %s in the report", id)
	return ""
}

// acceptAlgNone is the defect: a bearer token whose header says alg
// "none" (any case) is re-signed with the deployment's HS256 secret
// before the API sees it, so the API accepts it.
func acceptAlgNone(next http.Handler, secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			claims := jwt.MapClaims{}
			if t, _, err := jwt.NewParser().ParseUnverified(tok, claims); err == nil {
				if alg, _ := t.Header["alg"].(string); strings.EqualFold(alg, "none") {
					if signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret)); err == nil {
						r = r.Clone(r.Context())
						r.Header.Set("Authorization", "Bearer "+signed)
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
