package spec

import "strings"

// Seed 003's endpoints of device keys and provisioning, relative to
// BasePath: the defaults of a profile's deviceState and provisioning
// fields where it has device keys (deviceKeyPrefix) or provisioning keys
// (provisioningKeyPrefix) and leaves them out. {device} is a device's
// UUID.
const (
	DefaultDeviceState        = "/device/{device}/state"
	DefaultProvisioningCreate = "/provision/keys"
	DefaultProvisioningRedeem = "/provision/agent"
)

// applyDefaults fills the device and provisioning paths of a profile with
// such keys from seed 003 where the document leaves them out.
func (p *Profile) applyDefaults() {
	if p.DeviceKeyPrefix != "" && p.DeviceState == "" {
		p.DeviceState = DefaultDeviceState
	}
	if p.ProvisioningKeyPrefix != "" {
		if p.Provisioning.Create == "" {
			p.Provisioning.Create = DefaultProvisioningCreate
		}
		if p.Provisioning.Redeem == "" {
			p.Provisioning.Redeem = DefaultProvisioningRedeem
		}
	}
}

// DeviceStatePath is the state path of device uuid on p, relative to
// BasePath; "" where p has no device keys.
func (p *Profile) DeviceStatePath(uuid string) string {
	if !p.Can(CapDeviceKeys) || p.DeviceState == "" {
		return ""
	}
	return strings.ReplaceAll(p.DeviceState, "{device}", uuid)
}

// ProvisioningPaths are p's paths that create provisioning keys and
// redeem them, relative to BasePath; ok is false where p has no
// provisioning.
func (p *Profile) ProvisioningPaths() (create, redeem string, ok bool) {
	if !p.Can(CapProvisioning) || p.Provisioning.Create == "" || p.Provisioning.Redeem == "" {
		return "", "", false
	}
	return p.Provisioning.Create, p.Provisioning.Redeem, true
}
