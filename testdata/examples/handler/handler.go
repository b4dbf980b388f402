// Package handler is an example of an implementer's module checking its
// own HTTP API with authconformtest (see handler_test.go).
//
// The API here is authconform's reference implementation, so the example
// has something conformant to check. A real implementer passes their own
// http.Handler and describes their own fixture users, keys and resources.
package handler

import (
	"net/http"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

// New returns the API for profile p and the fixtures it was seeded with
// (a target description without a base URL: authconformtest serves the
// handler and fills it in).
func New(p spec.ProfileName) (http.Handler, *spec.Target, error) {
	// A real implementer: build your own API here.
	srv, err := reference.New(reference.Config{Profile: p})
	if err != nil {
		return nil, nil, err
	}
	return srv.Handler(), srv.Target(""), nil
}

// Deployer returns the constructor of fresh, separately configured
// instances of the API (seed 003's deployment variables: JWT_SECRET,
// JWT_PUBLIC_KEY, JWT_PRIVATE_KEY, LICENSE_KEY, LICENSE_PUBLIC_KEY), so
// the checks that need deployment control run too.
func Deployer(p spec.ProfileName) func(vars map[string]string) (http.Handler, error) {
	return func(vars map[string]string) (http.Handler, error) {
		srv, err := reference.New(reference.Config{Profile: p, Env: vars})
		if err != nil {
			return nil, err
		}
		return srv.Handler(), nil
	}
}
