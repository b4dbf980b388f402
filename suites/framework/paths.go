package framework

import (
	"fmt"
	"net/http"

	"github.com/authconform/authconform/spec"
)

// Paths of the profile's protected resources, relative to the base path,
// filled from the target's resources. They are what the tenancy, key and
// transport checks send requests to.
type Paths struct {
	// Protected is a resource every principal of the admin's org may read
	// (roboticks org devices, rigbox workspace list, requestrocket client
	// list, iotistica agents).
	Protected string
	// Own is one specific resource of the admin.
	Own string
	// Restricted is a resource in the admin's org the member may not read
	// ("" where the profile has no such split).
	Restricted string
	// Foreign is a resource of the outsider's org (the admin gets 403).
	Foreign string
	// Missing is a nonexistent resource ID of the same shape as Foreign.
	Missing string
	// OutsiderHome is a seed-documented resource the outsider may read in
	// its own organisation (roboticks: its org's devices; elsewhere the
	// list, which the outsider sees for its own tenant). The preflight
	// checks the outsider's credential there: the per-object paths of
	// rigbox, requestrocket and iotistica are ref-defined.
	OutsiderHome string
}

// Paths returns the resource paths for the context's target.
func (c *Ctx) Paths() Paths {
	r := c.Target().Resources
	switch c.Name() {
	case spec.Roboticks:
		return Paths{
			Protected:    fmt.Sprintf("/organizations/%s/devices", r.Org),
			Own:          fmt.Sprintf("/organizations/%s/projects/%s/devices", r.Org, r.Project),
			Restricted:   fmt.Sprintf("/organizations/%s/projects/%s/devices", r.Org, r.RestrictedProject),
			Foreign:      fmt.Sprintf("/organizations/%s/devices", r.OtherOrg),
			Missing:      "/organizations/no-such-org-4e1f/devices",
			OutsiderHome: fmt.Sprintf("/organizations/%s/devices", r.OtherOrg),
		}
	case spec.Rigbox:
		return Paths{Protected: "/workspaces", Own: "/workspaces/" + r.Workspace, Foreign: "/workspaces/" + r.OtherWorkspace, Missing: "/workspaces/no-such-workspace-4e1f", OutsiderHome: "/workspaces"}
	case spec.RequestRocket:
		return Paths{Protected: "/clients", Own: "/clients/" + r.Client, Foreign: "/clients/" + r.OtherClient, Missing: "/clients/no-such-client-4e1f", OutsiderHome: "/clients"}
	case spec.Iotistica:
		t := c.Target()
		return Paths{
			Protected:    "/agents",
			Own:          "/agents/" + t.Devices[0].UUID,
			Foreign:      "/agents/" + t.Resources.OtherAgent,
			Missing:      "/agents/00000000-0000-4000-8000-00000000beef",
			OutsiderHome: "/agents",
		}
	}
	panic("framework: no paths for profile " + string(c.Name()))
}

// DeviceStatePath is iotistica's device control-plane path.
func DeviceStatePath(uuid string) string { return "/device/" + uuid + "/state" }

// UserHeaders returns the headers that authenticate principal p on the
// profile by its default credential: the user API key where the profile has
// them, else a JWT obtained by logging in (iotistica).
func (c *Ctx) UserHeaders(cl *Client, p spec.Principal) http.Header {
	if c.Profile.UserKeyPrefix != "" {
		return cl.UserCred(p.APIKey)
	}
	tok := c.Login(cl, p)
	return Cred(spec.TransportBearer, tok.Access)
}
