// Package spec is the contract every other package reads: the four profiles
// of SPEC.md §1 as data, the check catalogue of SPEC.md §2, and the target
// file schema that describes an implementation under test.
//
// spec imports nothing of the project; reference/, suites/ and loadgen/ all
// import spec and never each other's internals.
package spec

import (
	"slices"
	"strings"
)

// ProfileName names one dialect of the family.
type ProfileName string

// The four built-in profiles, named after the vendor documents in
// shared/seeds. Each is described by spec/profiles/<name>.yaml; code reads
// the profile's fields and capabilities, never these names.
const (
	Roboticks     ProfileName = "roboticks"
	Rigbox        ProfileName = "rigbox"
	RequestRocket ProfileName = "requestrocket"
	Iotistica     ProfileName = "iotistica"
)

// AllProfiles lists the built-in profiles in catalogue order.
var AllProfiles = []ProfileName{Roboticks, Rigbox, RequestRocket, Iotistica}

// Transport is one way a credential may travel in a request: one of the
// constants below, or "header:NAME" for a raw credential in header NAME.
type Transport string

const (
	// TransportBearer is `Authorization: Bearer <credential>`.
	TransportBearer Transport = "bearer"
	// TransportXAPIKey is `X-API-Key: <credential>`.
	TransportXAPIKey Transport = "x-api-key"
	// TransportRawAuthorization is `Authorization: <credential>` with no scheme.
	TransportRawAuthorization Transport = "raw-authorization"
	// TransportDeviceKey is `X-Device-API-Key: <credential>` (device keys).
	TransportDeviceKey Transport = "x-device-api-key"
)

// headerTransportPrefix starts a Transport naming a custom header.
const headerTransportPrefix = "header:"

// HeaderTransport is the transport of a raw credential in header name.
func HeaderTransport(name string) Transport { return Transport(headerTransportPrefix + name) }

// Header returns the request header a transport uses and the scheme that
// precedes the credential in it ("" for a raw value). ok is false for an
// unknown transport.
func (t Transport) Header() (name, scheme string, ok bool) {
	switch t {
	case TransportBearer:
		return "Authorization", "Bearer", true
	case TransportXAPIKey:
		return "X-API-Key", "", true
	case TransportRawAuthorization:
		return "Authorization", "", true
	case TransportDeviceKey:
		return "X-Device-API-Key", "", true
	}
	if h, found := strings.CutPrefix(string(t), headerTransportPrefix); found && validHeaderName(h) {
		return h, "", true
	}
	return "", "", false
}

// validHeaderName reports whether h is an HTTP token (RFC 9110 §5.1).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// RefreshStyle is how a profile refreshes an access token.
type RefreshStyle string

const (
	// RefreshBearerCurrent: POST the refresh path with the current, unexpired
	// access token as `Authorization: Bearer` (roboticks).
	RefreshBearerCurrent RefreshStyle = "bearer-current"
	// RefreshBodyToken: POST {"refreshToken": ...}, get a new pair; the old
	// refresh token is rotated out (iotistica).
	RefreshBodyToken RefreshStyle = "body-refresh-token"
)

// Login describes a profile's login endpoint and response shape.
type Login struct {
	Path          string       `yaml:"path"`          // relative to BasePath
	AccessField   string       `yaml:"accessField"`   // JSON field carrying the access token
	RefreshField  string       `yaml:"refreshField"`  // JSON field carrying the refresh token, "" if none
	ExpiresField  string       `yaml:"expiresField"`  // JSON field carrying the lifetime in seconds
	TokenType     string       `yaml:"tokenType"`     // required value of "token_type", "" if the field is absent
	Lifetime      int          `yaml:"lifetime"`      // announced lifetime in seconds
	RefDefined    bool         `yaml:"refDefined"`    // the seed does not document it; the reference defines it
	RefreshPath   string       `yaml:"refreshPath"`   // relative to BasePath, "" if the profile has no refresh
	RefreshStyle  RefreshStyle `yaml:"refreshStyle"`  // how the refresh request carries the token
	RefreshBodyIn string       `yaml:"refreshBodyIn"` // JSON field of the refresh request body (body style)
}

// KeyEndpoints are a profile's API-key management endpoints (paths relative
// to BasePath). Create returns the secret once; List never does.
type KeyEndpoints struct {
	Create     string `yaml:"create"`     // POST
	List       string `yaml:"list"`       // GET, "" when the profile has no listing
	Delete     string `yaml:"delete"`     // DELETE Delete + "/{id}", "" when revocation is admin-only
	SecretJSON string `yaml:"secretJSON"` // field of the create response carrying the secret
	IDJSON     string `yaml:"idJSON"`     // field of the create response carrying the key id
	RefDefined bool   `yaml:"refDefined"`
}

// ProvisioningEndpoints are a profile's provisioning-key endpoints (paths
// relative to BasePath): Create (POST, an admin's token) returns a
// single-use key; Redeem (POST {key, agentName}, no credential) trades it
// for a device's key and MQTT password.
type ProvisioningEndpoints struct {
	Create string `yaml:"create"`
	Redeem string `yaml:"redeem"`
}

// Profile is one dialect: paths, prefixes, transports, error bodies,
// resources and capabilities. The built-in ones are spec/profiles/*.yaml;
// a user's own is read by LoadProfile.
type Profile struct {
	Name     ProfileName `yaml:"name"`
	Seed     string      `yaml:"seed"` // file name in shared/seeds ("" for a user's profile)
	BasePath string      `yaml:"basePath"`

	// UserKeyPrefix is the prefix of a user API key ("" if the profile has none).
	UserKeyPrefix string `yaml:"userKeyPrefix"`
	// Transports lists every way a user credential may be sent. The first
	// one is the documented default.
	Transports []Transport `yaml:"transports"`

	// DeviceKeyPrefix and DeviceKeyHeader describe device keys (iotistica).
	DeviceKeyPrefix string `yaml:"deviceKeyPrefix"`
	DeviceKeyHeader string `yaml:"deviceKeyHeader"`
	// ProvisioningKeyPrefix is the prefix of single-use provisioning keys.
	ProvisioningKeyPrefix string `yaml:"provisioningKeyPrefix"`
	// DeviceState is the path template (relative to BasePath, {device} =
	// the device's UUID) where a device reads its own state with its key;
	// seed 003's /device/{device}/state when deviceKeyPrefix is set and
	// the document leaves it out.
	DeviceState string `yaml:"deviceState"`
	// Provisioning are the endpoints of provisioning keys; seed 003's
	// when provisioningKeyPrefix is set and the document leaves them out.
	Provisioning ProvisioningEndpoints `yaml:"provisioning"`

	Login *Login        `yaml:"login"` // nil when the profile has no login (requestrocket)
	Keys  *KeyEndpoints `yaml:"keys"`

	// JWTAlgs are the algorithms a deployment may choose from.
	JWTAlgs []string `yaml:"jwtAlgs"`

	// PublicPaths need no credential (rigbox), relative to BasePath.
	PublicPaths []string `yaml:"publicPaths"`

	// Err401Missing is the 401 body when no credential was sent; Err401 for
	// every other authentication failure; Err403 for a valid principal
	// without access; Err429 when rate limited.
	Err401Missing ErrorBody `yaml:"err401Missing"`
	Err401        ErrorBody `yaml:"err401"`
	Err403        ErrorBody `yaml:"err403"`
	Err429        ErrorBody `yaml:"err429"`

	// RateLimitRefDefined is true where the seed does not document rate
	// limiting and the reference defines it (levels drop to SHOULD).
	RateLimitRefDefined bool `yaml:"rateLimitRefDefined"`
	// RateLimitReset is what X-RateLimit-Reset means where the vendor
	// document says so (roboticks, seed 000: "Unix timestamp when limit
	// resets"); "" where no document says (RATE-009 then only classifies
	// it, INFO).
	RateLimitReset ResetFormat `yaml:"rateLimitReset"`

	// Resources are the protected resources the checks send requests to.
	Resources ProfileResources `yaml:"resources"`

	// Capabilities the profile has beyond what its fields show (see
	// Capability); the catalogue's requires: lists are matched against
	// Can.
	Capabilities []Capability `yaml:"capabilities"`

	// Reference is what the reference implementation says where the seed
	// leaves the wording to it.
	Reference ReferenceDialect `yaml:"reference"`
}

// ReferenceDialect is the reference implementation's wording for a
// profile: the free-text messages of the error bodies, the 401 challenge
// and the shape of the errors no seed documents (400, 404, 413, 500).
type ReferenceDialect struct {
	// Challenge is the WWW-Authenticate value of every 401.
	Challenge string `yaml:"challenge"`
	// MissingMsg, UnauthorizedMsg and ForbiddenMsg fill the free string
	// fields of Err401Missing, Err401 and Err403.
	MissingMsg      string `yaml:"missingMessage"`
	UnauthorizedMsg string `yaml:"unauthorizedMessage"`
	ForbiddenMsg    string `yaml:"forbiddenMessage"`
	// OtherError is the shape of an undocumented error: each field is
	// "message", "status" (the number) or "statusText".
	OtherError []OtherField `yaml:"otherError"`
}

// OtherField is one field of ReferenceDialect.OtherError.
type OtherField struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"` // message | status | statusText
}

// ProfileResources describe a profile's protected resources: the path templates
// the checks use, and the reference's resource family that serves them.
// Templates are relative to BasePath; {field} is the target file's
// resources.field, {device} the UUID of the target's first device.
type ProfileResources struct {
	// Model is the reference's resource family serving these paths:
	// org-projects, workspaces, clients or agents.
	Model string `yaml:"model"`
	// Word names the resource in check texts ("workspace").
	Word string `yaml:"word"`
	// Protected is a resource every principal of the admin's org may read.
	Protected string `yaml:"protected"`
	// Own is one specific resource of the admin.
	Own string `yaml:"own"`
	// Restricted is a resource in the admin's org the member may not read
	// ("" where the profile has no such split).
	Restricted string `yaml:"restricted"`
	// Foreign is a resource of the outsider's org.
	Foreign string `yaml:"foreign"`
	// Missing is a nonexistent resource of the same shape as Foreign.
	Missing string `yaml:"missing"`
	// OutsiderHome is a seed-documented resource the outsider may read in
	// its own organisation.
	OutsiderHome string `yaml:"outsiderHome"`
	// Listing is true when Protected lists the caller's tenant's objects
	// (GET Protected/{id} reads one): the listing must not show another
	// tenant's. ForeignID is the target resource field naming the
	// outsider's object in such a listing.
	Listing   bool   `yaml:"listing"`
	ForeignID string `yaml:"foreignID"`
	// ByIDRefDefined: the per-object paths are the reference's (the seed
	// documents only the listing); their 403 is SHOULD.
	ByIDRefDefined bool `yaml:"byIDRefDefined"`
	// RefusalRefDefined: the seed gives no status for another tenant's
	// object, so a 404 hiding it is conformant and the 403 is SHOULD.
	RefusalRefDefined bool `yaml:"refusalRefDefined"`
	// ProtectedIsOwn: Protected itself names the admin's organisation (so
	// it is org A's resource for the tenancy checks too).
	ProtectedIsOwn bool `yaml:"protectedIsOwn"`
	// OwnAdminOnly: the fixture contract keeps Own out of the member's
	// reach, so where there is no Restricted resource Own stands in for it
	// (the member gets 403 there).
	OwnAdminOnly bool `yaml:"ownAdminOnly"`
	// Fields are the target file's resources.* fields these templates
	// use, each with the help text of its "missing" error.
	Fields []ResourceField `yaml:"fields"`
}

// ResourceField is one target-file resource field a profile needs.
type ResourceField struct {
	Name string `yaml:"name"` // e.g. workspace (resources.workspace)
	Help string `yaml:"help"` // e.g. "the ID of a workspace of the admin"
}

// ResetFormat is a reading of X-RateLimit-Reset.
type ResetFormat string

// Readings of X-RateLimit-Reset.
const (
	ResetEpoch    ResetFormat = "epoch"     // Unix time in seconds of the refill
	ResetDelta    ResetFormat = "delta"     // seconds from the response until the refill
	ResetHTTPDate ResetFormat = "http-date" // an HTTP-date (RFC 9110 §5.6.7) of the refill
)

// ResetFormats lists the readings a profile's rateLimitReset may name.
var ResetFormats = []ResetFormat{ResetEpoch, ResetDelta, ResetHTTPDate}

// Capability is something a profile can do that a check requires.
type Capability string

// Capabilities. Those marked derived follow from the profile's fields and
// are never listed in its capabilities:; the others are listed there.
const (
	CapLogin           Capability = "login"           // derived: login section
	CapLoginDocumented Capability = "loginDocumented" // derived: a login whose shape the seed documents (login.refDefined false)
	CapRefresh         Capability = "refresh"         // derived: login.refreshPath
	CapRefreshRotation Capability = "refreshRotation" // derived: refreshStyle body-refresh-token (one-time refresh tokens)
	CapBearer          Capability = "bearer"          // derived: the bearer transport
	CapUserKeys        Capability = "userKeys"        // derived: userKeyPrefix
	CapDeviceKeys      Capability = "deviceKeys"      // derived: deviceKeyPrefix
	CapProvisioning    Capability = "provisioning"    // derived: provisioningKeyPrefix
	CapPublicEndpoints Capability = "publicEndpoints" // derived: publicPaths
	CapRS256           Capability = "rs256"           // derived: jwtAlgs has RS256
	CapRateLimitSeeded Capability = "rateLimitSeeded" // derived: rateLimitRefDefined false
	CapResetDocumented Capability = "resetDocumented" // derived: rateLimitReset set (the vendor document says what Reset means)
	CapKeysAPI         Capability = "keysAPI"         // listed: self-service key creation and listing at keys.*
	CapMQTT            Capability = "mqtt"            // listed: an MQTT broker authenticates devices against the API
	CapLicense         Capability = "license"         // listed: a signed license limits devices and features
)

// listedCapabilities are the capabilities a profile file may list.
var listedCapabilities = []Capability{CapKeysAPI, CapMQTT, CapLicense}

// derivedCapabilities are computed from fields.
var derivedCapabilities = []Capability{CapLogin, CapLoginDocumented, CapRefresh, CapRefreshRotation, CapBearer, CapUserKeys, CapDeviceKeys, CapProvisioning, CapPublicEndpoints, CapRS256, CapRateLimitSeeded, CapResetDocumented}

// KnownCapability reports whether c is a capability name.
func KnownCapability(c Capability) bool {
	return slices.Contains(listedCapabilities, c) || slices.Contains(derivedCapabilities, c)
}

// Can reports whether the profile has capability c.
func (p *Profile) Can(c Capability) bool {
	switch c {
	case CapLogin:
		return p.Login != nil
	case CapLoginDocumented:
		return p.Login != nil && !p.Login.RefDefined
	case CapRefresh:
		return p.Login != nil && p.Login.RefreshPath != ""
	case CapRefreshRotation:
		return p.Login != nil && p.Login.RefreshPath != "" && p.Login.RefreshStyle == RefreshBodyToken
	case CapBearer:
		return p.Has(TransportBearer)
	case CapUserKeys:
		return p.UserKeyPrefix != ""
	case CapDeviceKeys:
		return p.DeviceKeyPrefix != ""
	case CapProvisioning:
		return p.ProvisioningKeyPrefix != ""
	case CapPublicEndpoints:
		return len(p.PublicPaths) > 0
	case CapRS256:
		return slices.Contains(p.JWTAlgs, "RS256")
	case CapRateLimitSeeded:
		return !p.RateLimitRefDefined
	case CapResetDocumented:
		return p.RateLimitReset != ""
	}
	return slices.Contains(p.Capabilities, c)
}

// CanAll reports whether the profile has every capability of cs.
func (p *Profile) CanAll(cs []Capability) bool {
	for _, c := range cs {
		if !p.Can(c) {
			return false
		}
	}
	return true
}

// KeyPrefix is the prefix of the profile's default API key: the user key
// prefix, else the device key prefix.
func (p *Profile) KeyPrefix() string {
	if p.UserKeyPrefix != "" {
		return p.UserKeyPrefix
	}
	return p.DeviceKeyPrefix
}

// Rate-limit response headers (seed 000; the reference uses them everywhere).
const (
	HeaderRateLimit     = "X-RateLimit-Limit"
	HeaderRateRemaining = "X-RateLimit-Remaining"
	HeaderRateReset     = "X-RateLimit-Reset" // unix seconds
	HeaderRetryAfter    = "Retry-After"       // seconds
	// HeaderDraftRateLimit and HeaderDraftRateLimitPolicy are the fields
	// of draft-ietf-httpapi-ratelimit-headers-12 (Structured Fields
	// Lists), which a target may send besides or instead of X-RateLimit-*.
	HeaderDraftRateLimit       = "RateLimit"
	HeaderDraftRateLimitPolicy = "RateLimit-Policy"
)

// Has reports whether the profile accepts transport t for user credentials.
func (p *Profile) Has(t Transport) bool {
	for _, x := range p.Transports {
		if x == t {
			return true
		}
	}
	return false
}

// URL joins a base URL, the profile's base path and a relative path.
func (p *Profile) URL(baseURL, rel string) string { return baseURL + p.BasePath + rel }
