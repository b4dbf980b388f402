package spec

import "strings"

// The endpoints of device keys and provisioning (SPEC.md §1, seed 003),
// relative to BasePath. A profile with device keys (deviceKeyPrefix)
// serves a device's control-plane state at DeviceStateTemplate to the
// device's own key (in deviceKeyHeader); a profile with provisioning keys
// (provisioningKeyPrefix) creates them at ProvisioningKeysPath (POST, an
// admin's JWT) and redeems them at ProvisioningRedeemPath (POST {key,
// agentName}). {device} is a device's UUID.
const (
	DeviceStateTemplate    = "/device/{device}/state"
	ProvisioningKeysPath   = "/provision/keys"
	ProvisioningRedeemPath = "/provision/agent"
)

// DeviceStatePath is the state path of device uuid on p, relative to
// BasePath; "" where p has no device keys.
func (p *Profile) DeviceStatePath(uuid string) string {
	if !p.Can(CapDeviceKeys) {
		return ""
	}
	return strings.ReplaceAll(DeviceStateTemplate, "{device}", uuid)
}

// ProvisioningPaths are p's paths that create provisioning keys and
// redeem them, relative to BasePath; ok is false where p has no
// provisioning.
func (p *Profile) ProvisioningPaths() (create, redeem string, ok bool) {
	if !p.Can(CapProvisioning) {
		return "", "", false
	}
	return ProvisioningKeysPath, ProvisioningRedeemPath, true
}
