package reference

import (
	"net/http"
	"testing"

	"github.com/authconform/authconform/spec"
)

func TestUnknownRoutesAndMethodsAreJSON4xx(t *testing.T) {
	for _, p := range spec.AllProfiles {
		e := newEnv(t, p)
		for _, c := range []struct{ m, path string }{
			{http.MethodGet, "/auth/login"},
			{http.MethodPut, e.protected()},
			{http.MethodGet, "!/nope"},
		} {
			r := e.do(c.m, c.path, nil, "")
			if r.code < 400 || r.code >= 500 || r.h.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s %s: %d %q", p, c.m, c.path, r.code, r.h.Get("Content-Type"))
			}
		}
	}
}
