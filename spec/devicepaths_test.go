package spec

import (
	"os"
	"testing"
)

// Device state and provisioning paths follow from the profile's fields:
// device keys give the state path, provisioning keys the provisioning
// paths; a profile without them has none (the fifth profile included).
func TestDevicePaths(t *testing.T) {
	iot := MustGet(Iotistica)
	if got := iot.DeviceStatePath("u-1"); got != "/device/u-1/state" {
		t.Errorf("iotistica device state path %q", got)
	}
	if c, r, ok := iot.ProvisioningPaths(); !ok || c != "/provision/keys" || r != "/provision/agent" {
		t.Errorf("iotistica provisioning paths %q %q %v", c, r, ok)
	}
	b, err := os.ReadFile("../testdata/profiles/acmecloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	acme, err := ParseProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Profile{MustGet(Roboticks), MustGet(Rigbox), MustGet(RequestRocket), acme} {
		if got := p.DeviceStatePath("u-1"); got != "" {
			t.Errorf("%s has no device keys, state path %q", p.Name, got)
		}
		if _, _, ok := p.ProvisioningPaths(); ok {
			t.Errorf("%s has no provisioning, yet provisioning paths", p.Name)
		}
	}
}
