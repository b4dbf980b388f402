package spec

import (
	"os"
	"strings"
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

// The paths are profile fields: a user's profile can move them, gets seed
// 003's where it has such keys and leaves them out, and a bad value is a
// one-line error naming the field.
func TestDevicePathFields(t *testing.T) {
	b, err := os.ReadFile("profiles/iotistica.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "name: iotistica", "name: mine", 1)
	moved := strings.NewReplacer(
		"deviceState: /device/{device}/state", "deviceState: /things/{device}/status",
		"provisioning: {create: /provision/keys, redeem: /provision/agent}", "provisioning: {create: /enrol/keys, redeem: /enrol}",
	).Replace(doc)
	p, err := ParseProfile([]byte(moved))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DeviceStatePath("u-1"); got != "/things/u-1/status" {
		t.Errorf("moved device state path %q", got)
	}
	if c, r, ok := p.ProvisioningPaths(); !ok || c != "/enrol/keys" || r != "/enrol" {
		t.Errorf("moved provisioning paths %q %q %v", c, r, ok)
	}
	left := strings.NewReplacer(
		"deviceState: /device/{device}/state\n", "",
		"provisioning: {create: /provision/keys, redeem: /provision/agent}\n", "",
	).Replace(doc)
	if left == doc {
		t.Fatal("iotistica.yaml no longer spells its device paths as this test expects")
	}
	p, err = ParseProfile([]byte(left))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.DeviceStatePath("u-1"); got != "/device/u-1/state" {
		t.Errorf("default device state path %q", got)
	}
	if c, r, ok := p.ProvisioningPaths(); !ok || c != DefaultProvisioningCreate || r != DefaultProvisioningRedeem {
		t.Errorf("default provisioning paths %q %q %v", c, r, ok)
	}
	for bad, field := range map[string]string{
		"deviceState: /device/state":                     "deviceState",
		"deviceState: /device/{device}/{x}":              "deviceState",
		"deviceState: device/{device}":                   "deviceState",
		"provisioning: {create: enrol, redeem: /e}":      "provisioning.create",
		"provisioning: {create: /e, redeem: \"/e?x=1\"}": "provisioning.redeem",
		"provisioning: {create: /e, redeem: /e, x: 1}":   "provisioning",
	} {
		d := strings.Replace(left, "provisioningKeyPrefix: prov_\n", "provisioningKeyPrefix: prov_\n"+bad+"\n", 1)
		_, err := ParseProfile([]byte(d))
		if err == nil || !strings.Contains(err.Error(), field) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s", bad, err, field)
		}
	}
	noProv := strings.Replace(left, "provisioningKeyPrefix: prov_\n", "provisioning: {create: /e, redeem: /f}\n", 1)
	if _, err := ParseProfile([]byte(noProv)); err == nil || !strings.Contains(err.Error(), "provisioningKeyPrefix") {
		t.Errorf("provisioning without provisioningKeyPrefix: %v", err)
	}
}
