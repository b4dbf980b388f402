// Package all links every area's specs into a binary (the run command and
// the catalogue test). Add a blank import when a new area package appears.
package all

import (
	_ "github.com/authconform/authconform/suites/apikeys"
	_ "github.com/authconform/authconform/suites/jwt"
	_ "github.com/authconform/authconform/suites/license"
	_ "github.com/authconform/authconform/suites/mqtt"
	_ "github.com/authconform/authconform/suites/provisioning"
	_ "github.com/authconform/authconform/suites/ratelimit"
	_ "github.com/authconform/authconform/suites/tenancy"
	_ "github.com/authconform/authconform/suites/transport"
)
