package framework

import "strings"

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

// Paths returns the resource paths for the context's target: the
// profile's path templates (spec/profiles/*.yaml resources) filled with the
// target file's values.
func (c *Ctx) Paths() Paths {
	r, t := &c.Profile.Resources, c.Target()
	return Paths{
		Protected:    r.Path(r.Protected, t),
		Own:          r.Path(r.Own, t),
		Restricted:   r.Path(r.Restricted, t),
		Foreign:      r.Path(r.Foreign, t),
		Missing:      r.Path(r.Missing, t),
		OutsiderHome: r.Path(r.OutsiderHome, t),
	}
}

// DeviceResource is the profile's Own resource template filled for device
// i of the target file (iotistica: /agents/{uuid}), "" without devices.
func (c *Ctx) DeviceResource(i int) string {
	t := c.Target()
	if i >= len(t.Devices) {
		return ""
	}
	return strings.ReplaceAll(c.Profile.Resources.Own, "{device}", t.Devices[i].UUID)
}

// DeviceStatePath is the path where device uuid reads its own state with
// its key: the profile's deviceState (seed 003's /device/{uuid}/state
// unless the profile document moves it); "" without device keys.
func (c *Ctx) DeviceStatePath(uuid string) string { return c.Profile.DeviceStatePath(uuid) }
