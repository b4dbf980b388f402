package reference

import (
	"fmt"
	"sort"
	"time"

	"github.com/authconform/authconform/spec"
)

// FaultInfo describes one deliberate defect (a mutant). Check is the
// catalogue ID the fault must make fail; AlsoBreaks lists further checks it
// unavoidably breaks; Profiles are the profiles in which the defect is
// observable (empty: none, e.g. a fault implemented outside the reference).
type FaultInfo struct {
	Name        string
	Check       string
	Description string
	AlsoBreaks  []string
	Profiles    []spec.ProfileName
	// Inconclusive marks a fault that breaks a positive control rather
	// than the property a check asserts (e.g. a valid key answered 429):
	// Check and AlsoBreaks must then be error, not failed, and nothing may
	// fail (SPEC.md §4 Controls).
	Inconclusive bool
}

// Fault names.
const (
	FaultRejectAltTransport        = "reject-alt-transport"
	FaultKeyPrefixMatch            = "key-prefix-match"
	FaultWrongErrorBody            = "wrong-error-body"
	FaultPanicOnLongHeader         = "panic-on-long-header"
	FaultPublicNeedsAuth           = "public-needs-auth"
	FaultListLeaksSecret           = "list-leaks-secret"
	FaultRevocationIgnored         = "revocation-ignored"
	FaultIgnoreProjectACL          = "ignore-project-acl"
	FaultKeyScopeMismatch          = "key-scope-mismatch"
	FaultLoginUserOracle           = "login-user-oracle"
	FaultWrongTokenLifetime        = "wrong-token-lifetime"
	FaultAcceptAlgNone             = "accept-alg-none"
	FaultRS256KeyConfusion         = "rs256-key-confusion"
	FaultSkipSignatureCheck        = "skip-signature-check"
	FaultAcceptExpiredJWT          = "accept-expired-jwt"
	FaultJWEUnsignedInner          = "jwe-unsigned-inner"
	FaultExpTypeUnchecked          = "exp-type-unchecked"
	FaultRS256HMACFallback         = "rs256-hmac-fallback"
	FaultIgnoreCrit                = "ignore-crit"
	FaultRefreshAcceptsAccessToken = "refresh-accepts-access-token"
	FaultRefreshExpiredToken       = "refresh-expired-token"
	FaultNoRateLimitHeaders        = "no-ratelimit-headers"
	FaultRemainingOffByOne         = "remaining-off-by-one"
	FaultRateLimitWrongBody        = "ratelimit-wrong-body"
	FaultGlobalRateLimit           = "global-rate-limit"
	FaultRacyRateLimiter           = "racy-rate-limiter"
	FaultRateLimitNeverResets      = "ratelimit-never-resets"
	FaultRateLimitUnrestrictedKeys = "ratelimit-unrestricted-keys"
	FaultLeakCrossTenant           = "leak-cross-tenant"
	FaultDeviceStateAnyKey         = "device-state-any-key"
	FaultMemberCanProvision        = "member-can-provision"
	FaultProvisionedKeyInactive    = "provisioned-key-inactive"
	FaultReusableProvisioningKey   = "reusable-provisioning-key"
	FaultRacyProvisioning          = "racy-provisioning"
	FaultProvisioningNeverExpires  = "provisioning-key-never-expires"
	FaultMemberCanCreateDeviceKey  = "member-can-create-device-key"
	FaultMQTTRejectValid           = "mqtt-reject-valid"
	FaultMQTTIgnorePassword        = "mqtt-ignore-password"
	FaultMQTTRevocationIgnored     = "mqtt-revocation-ignored"
	FaultMQTTWeakConnect           = "mqtt-weak-connect"
	FaultMQTTFailOpen              = "mqtt-fail-open"
	FaultMQTTACLOpen               = "mqtt-acl-open"
	FaultMQTTStickyRefusal         = "mqtt-sticky-refusal"
	FaultLicenseLimitOffByOne      = "license-limit-off-by-one"
	FaultLicenseLimitRacy          = "license-limit-racy"
	FaultLicenseUnchecked          = "license-unchecked"
	FaultLicenseFeaturesIgnored    = "license-features-ignored"
)

// Fault names of the rate-limit checks of catalogue v2 (a block of their
// own, so that other areas' v2 faults merge without realignment).
const (
	FaultResetDeltaSeconds = "reset-delta-seconds" // RATE-009
	FaultResetNextWindow   = "reset-next-window"   // RATE-009
)

// The profiles in which a fault is observable follow from the profiles'
// data (fields and capabilities), never from their names.
var (
	allProfiles = where(func(*spec.Profile) bool { return true })
	withLogin   = where(can(spec.CapLogin))
	// twoTransports: a documented second user transport to ignore.
	twoTransports = where(func(p *spec.Profile) bool { return p.UserKeyPrefix != "" && len(p.Transports) > 1 })
	// refreshCurrent: the current access token refreshes (bearer-current).
	refreshCurrent = where(func(p *spec.Profile) bool {
		return p.Login != nil && p.Login.RefreshPath != "" && p.Login.RefreshStyle == spec.RefreshBearerCurrent
	})
	withPublic     = where(can(spec.CapPublicEndpoints))
	withKeyListing = where(func(p *spec.Profile) bool { return p.Can(spec.CapKeysAPI) && p.Keys != nil && p.Keys.List != "" })
	// withInnerACL: a resource of the principal's own organisation the
	// member may not reach (a restricted project, or the admin's own
	// workspace or client).
	withInnerACL     = where(func(p *spec.Profile) bool { return p.Resources.Restricted != "" || p.Resources.OwnAdminOnly })
	withLoginKeys    = where(func(p *spec.Profile) bool { return p.Can(spec.CapLogin) && p.Can(spec.CapUserKeys) })
	withRefresh      = where(can(spec.CapRefresh))
	withRS256        = where(can(spec.CapRS256))
	withDevices      = where(can(spec.CapDeviceKeys))
	withProvisioning = where(can(spec.CapProvisioning))
	withLicense      = where(can(spec.CapLicense))
	withMQTT         = where(can(spec.CapMQTT))
)

// where lists the built-in profiles for which pred holds.
func where(pred func(*spec.Profile) bool) []spec.ProfileName {
	var out []spec.ProfileName
	for _, n := range spec.AllProfiles {
		if pred(spec.MustGet(n)) {
			out = append(out, n)
		}
	}
	return out
}

func can(c spec.Capability) func(*spec.Profile) bool {
	return func(p *spec.Profile) bool { return p.Can(c) }
}

var faultRegistry = []FaultInfo{
	{FaultRejectAltTransport, "AUTH-003", "roboticks: the documented X-API-Key header is ignored (only Authorization: Bearer works)", []string{"AUTH-004", "AUTH-008", "AUTH-009"}, twoTransports, false},
	{FaultKeyPrefixMatch, "AUTH-004", "API and device keys are matched on their first 16 characters after the prefix only: truncated, extended and case-flipped keys are accepted", nil, allProfiles, false},
	{FaultWrongErrorBody, "AUTH-001", "a request without any credential gets 401 with {\"error\":\"unauthorized\"} instead of the profile's body", nil, allProfiles, false},
	{FaultPanicOnLongHeader, "AUTH-009", "a header value longer than 8 KiB makes the handler panic (recovered as 500)", nil, allProfiles, false},
	{FaultPublicNeedsAuth, "AUTH-010", "the public endpoints (rigbox: /api/capacity and /api/templates) demand a credential", nil, withPublic, false},
	{FaultListLeaksSecret, "KEY-001", "key listings include the secret of keys created while the fault is on", nil, withKeyListing, false},
	{FaultRevocationIgnored, "KEY-002", "revoked user and device keys keep working (HTTP and MQTT)", []string{"MQTT-003", "MQTT-008"}, allProfiles, false},
	{FaultIgnoreProjectACL, "KEY-003", "access inside the principal's own organisation is not checked: members reach the restricted project / the admin's workspace or client (keys and JWTs alike)", nil, withInnerACL, false},
	{FaultKeyScopeMismatch, "KEY-004", "an API key of a non-admin is refused (403) on the project/workspace/client it can reach with its JWT", nil, withLoginKeys, false},
	{FaultLoginUserOracle, "JWT-001", "login with an unknown email answers 404 instead of the wrong-password 401", nil, withLogin, false},
	{FaultWrongTokenLifetime, "JWT-002", "issued access tokens live 7200 s while 3600 is announced", nil, withLogin, false},
	{FaultAcceptAlgNone, "JWT-003", "access tokens with alg none/None/NONE are accepted without a signature", nil, withLogin, false},
	{FaultRS256KeyConfusion, "JWT-004", "RS256 deployment: HS256 tokens whose HMAC secret is the public key PEM are accepted", nil, withRS256, false},
	{FaultSkipSignatureCheck, "JWT-005", "the signature of access tokens (with the deployment's alg and a non-empty signature) is not verified", []string{"JWT-008", "JWT-013"}, withLogin, false},
	{FaultAcceptExpiredJWT, "JWT-006", "expired access tokens are accepted (expiry not checked)", []string{"JWT-016"}, withLogin, false},
	{FaultRefreshAcceptsAccessToken, "JWT-009", "the refresh endpoint takes the wrong token type: iotistica accepts an access token as refreshToken, roboticks accepts an API key as the current token", nil, withRefresh, false},
	{FaultRefreshExpiredToken, "JWT-010", "roboticks: POST /auth/refresh accepts an expired access token", nil, refreshCurrent, false},
	{FaultJWEUnsignedInner, "JWT-015", "RS256 deployment: a compact JWE (RSA-OAEP-256, A256GCM) as bearer token is decrypted with the deployment's key and the JWT inside trusted without checking its signature (alg none included)", nil, withRS256, false},
	{FaultExpTypeUnchecked, "JWT-016", "an exp claim is required by its presence only: a value that is not a number (a string, null) is skipped as if there were none", nil, withLogin, false},
	{FaultRS256HMACFallback, "JWT-017", "RS256 deployment: HS256 access tokens are still accepted when signed with the HMAC secret \"secret\" (a fallback kept from before the switch)", nil, withRS256, false},
	{FaultIgnoreCrit, "JWT-018", "the crit header of access tokens is ignored: a validly signed token naming an unknown critical extension is accepted (golang-jwt's default)", nil, withLogin, false},
	{FaultNoRateLimitHeaders, "RATE-001", "authenticated responses carry no X-RateLimit-* headers", []string{"RATE-002", "RATE-003"}, allProfiles, false},
	{FaultRemainingOffByOne, "RATE-002", "X-RateLimit-Remaining is one too low and reaches -1 on the last admitted request", nil, allProfiles, false},
	{FaultRateLimitWrongBody, "RATE-003", "429 answers {\"error\":\"rate limited\"} instead of the profile's body", nil, allProfiles, false},
	{FaultGlobalRateLimit, "RATE-004", "once any key is exhausted, every key is refused until that window ends", nil, allProfiles, false},
	{FaultRacyRateLimiter, "RATE-005", "the limiter reads the count, yields, then writes it back: parallel requests over-admit", nil, allProfiles, false},
	{FaultRateLimitNeverResets, "RATE-006", "the first window's count is kept forever: an exhausted key never recovers (later checks using the same key fail too)", []string{"RATE-002", "RATE-005", "RATE-007", "RATE-009", "RATE-010"}, allProfiles, false},
	// Rate limiting, catalogue v2.
	{FaultResetDeltaSeconds, "RATE-009", "X-RateLimit-Reset is the seconds until the window resets instead of the Unix time (roboticks' seed 000 says Unix timestamp)", []string{"RATE-001", "RATE-002"}, where(can(spec.CapResetDocumented)), false},
	// The only defect RATE-009 sees alone: every header is a well-formed,
	// stable Unix time in the future (RATE-001, RATE-002 pass) and
	// Retry-After agrees with it, but the refill comes a window earlier.
	{FaultResetNextWindow, "RATE-009", "X-RateLimit-Reset, and Retry-After with it, name the end of the window after the current one (the window is added once too often): the refill comes one window earlier than announced", nil, where(can(spec.CapResetDocumented)), false},
	// Control-breaking (Inconclusive): the fixture principals' own,
	// unrestricted credentials run out of budget, so every check whose
	// positive controls use them must be error, never failed.
	{
		Name:         FaultRateLimitUnrestrictedKeys,
		Check:        "TEN-001",
		Description:  "every unrestricted credential (user keys, JWTs per user, device keys; not the rate-limited key) has a budget of 2 requests per day: from its 3rd request on it gets the profile's 429 (the preflight's one request per credential passes)",
		AlsoBreaks:   unrestrictedKeysAlsoBreaks,
		Profiles:     allProfiles,
		Inconclusive: true,
	},
	{FaultLeakCrossTenant, "TEN-001", "organisation boundaries are not checked: a principal reaches another org's devices, projects, workspaces, clients and agents", nil, allProfiles, false},
	{FaultDeviceStateAnyKey, "TEN-002", "iotistica: GET /device/{uuid}/state accepts any valid device key", nil, withDevices, false},
	{FaultMemberCanProvision, "PROV-001", "iotistica: members may create provisioning keys", nil, withProvisioning, false},
	{FaultProvisionedKeyInactive, "PROV-002", "iotistica: the apiKey returned by /provision/agent is stored inactive and gets 401", nil, withProvisioning, false},
	{FaultReusableProvisioningKey, "PROV-003", "iotistica: provisioning keys are not deleted after use", []string{"PROV-004"}, withProvisioning, false},
	{FaultRacyProvisioning, "PROV-004", "iotistica: redemption looks the provisioning key up, yields, then deletes it: parallel redemptions all succeed", nil, withProvisioning, false},
	{FaultProvisioningNeverExpires, "PROV-005", "iotistica: provisioning keys never expire", nil, withProvisioning, false},
	{FaultMemberCanCreateDeviceKey, "PROV-006", "iotistica: members may create device keys with POST /auth/api-keys", nil, withProvisioning, false},
	{FaultMQTTRejectValid, "MQTT-001", "iotistica: /mosquitto-auth/user denies every device", []string{"MQTT-002", "MQTT-003", "MQTT-004", "MQTT-005", "MQTT-006", "MQTT-007", "MQTT-008", "MQTT-009", "MQTT-010"}, withMQTT, false},
	{FaultMQTTIgnorePassword, "MQTT-002", "iotistica: /mosquitto-auth/user does not check the MQTT password", []string{"MQTT-007", "MQTT-009"}, withMQTT, false},
	{FaultMQTTRevocationIgnored, "MQTT-003", "iotistica: /mosquitto-auth/user and /acl accept revoked device keys (HTTP still refuses them)", []string{"MQTT-008"}, withMQTT, false},
	{FaultMQTTWeakConnect, "MQTT-007", "iotistica: /mosquitto-auth/user allows any live device key whatever the password and clientid, so a CONNECT that must be refused is accepted and the PUBLISH behind it delivered", []string{"MQTT-002", "MQTT-006", "MQTT-009"}, withMQTT, false},
	{FaultMQTTFailOpen, "MQTT-004", "plugin option fail_open", []string{"MQTT-010"}, nil, false},
	{FaultMQTTACLOpen, "MQTT-005", "iotistica: /mosquitto-auth/acl allows any topic to any live device", nil, withMQTT, false},
	{FaultLicenseLimitOffByOne, "LIC-001", "iotistica: one registration more than maxDevices is allowed", []string{"LIC-002"}, withLicense, false},
	{FaultLicenseLimitRacy, "LIC-002", "iotistica: the device count is checked, the lock released, then the device inserted: parallel registrations exceed maxDevices", nil, withLicense, false},
	{FaultLicenseUnchecked, "LIC-003", "iotistica: the license is decoded without verifying signature or expiry; no license means unlimited", nil, withLicense, false},
	{FaultLicenseFeaturesIgnored, "LIC-004", "iotistica: premium endpoints ignore the license's feature flags (restricted mode still applies)", nil, withLicense, false},
	// MQTT-007's control (the right password right behind the wrong
	// CONNECT) is refused from the remembered refusal: error.
	{FaultMQTTStickyRefusal, "MQTT-009", "plugin option sticky_refusals: a refused CONNECT is remembered per (username, clientid) and answers that client's next CONNECT without asking the API, so the right password right after a wrong one is refused", []string{"MQTT-007"}, nil, false},
}

// Faults returns the fault registry sorted by name.
func Faults() []FaultInfo {
	out := make([]FaultInfo, 0, len(faultRegistry))
	for _, f := range faultRegistry {
		// Profiles: only those where the defect is observable AND the
		// fault's check applies.
		c, _ := spec.Lookup(f.Check)
		var ps []spec.ProfileName
		for _, p := range f.Profiles {
			if c.AppliesTo(p) {
				ps = append(ps, p)
			}
		}
		f.Profiles = ps
		f.AlsoBreaks = append([]string(nil), f.AlsoBreaks...)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupFault returns the fault called name.
func LookupFault(name string) (FaultInfo, error) {
	for _, f := range faultRegistry {
		if f.Name == name {
			return f, nil
		}
	}
	return FaultInfo{}, fmt.Errorf("%w: %q (see 'authconform reference --help' for the list)", ErrUnknownFault, name)
}

// unrestrictedKeysAlsoBreaks are the checks other than TEN-001 that
// FaultRateLimitUnrestrictedKeys makes error: their controls (or their
// positive MUST, AUTH-003) use the fixture principals' credentials. As
// observed in a full run of every profile without a broker; which of them
// a given credential's 3rd request lands in depends on the spec order.
var unrestrictedKeysAlsoBreaks = []string{
	"AUTH-001", "AUTH-002", "AUTH-003", "AUTH-004", "AUTH-005", "AUTH-006", "AUTH-007", "AUTH-008", "AUTH-009", "AUTH-011",
	"KEY-001", "KEY-002", "KEY-003", "KEY-004", "KEY-005",
	"JWT-001", "JWT-003", "JWT-005", "JWT-006", "JWT-007", "JWT-008", "JWT-009", "JWT-010", "JWT-013",
	"RATE-001", "RATE-004", "RATE-008", "TEN-002",
	"PROV-001", "PROV-002", "PROV-003", "PROV-004", "PROV-005", "PROV-006",
	"MQTT-003", "MQTT-008", "LIC-001", "LIC-002", "LIC-003", "LIC-004",
}

// Budget of every unrestricted credential under
// FaultRateLimitUnrestrictedKeys: two requests (the preflight's one and
// one more) per day-long window.
const (
	unrestrictedFaultLimit  = 2
	unrestrictedFaultWindow = 24 * time.Hour
)

type faultSet map[string]bool

func (f faultSet) on(name string) bool { return f[name] }
