// Package spec is the contract every other package reads: the four profiles
// of SPEC.md §1 as data, the check catalogue of SPEC.md §2, and the target
// file schema that describes an implementation under test.
//
// spec imports nothing of the project; reference/, suites/ and loadgen/ all
// import spec and never each other's internals.
package spec

import (
	"fmt"
	"sort"
)

// ProfileName names one dialect of the family.
type ProfileName string

// The four profiles, named after the vendor documents in shared/seeds.
const (
	Roboticks     ProfileName = "roboticks"
	Rigbox        ProfileName = "rigbox"
	RequestRocket ProfileName = "requestrocket"
	Iotistica     ProfileName = "iotistica"
)

// AllProfiles lists the profiles in catalogue order.
var AllProfiles = []ProfileName{Roboticks, Rigbox, RequestRocket, Iotistica}

// Transport is one way a credential may travel in a request.
type Transport string

const (
	// TransportBearer is `Authorization: Bearer <credential>`.
	TransportBearer Transport = "bearer"
	// TransportXAPIKey is `X-API-Key: <credential>`.
	TransportXAPIKey Transport = "x-api-key"
	// TransportRawAuthorization is `Authorization: <credential>` with no scheme.
	TransportRawAuthorization Transport = "raw-authorization"
	// TransportDeviceKey is `X-Device-API-Key: <credential>` (iotistica devices).
	TransportDeviceKey Transport = "x-device-api-key"
)

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
	Path          string // relative to BasePath
	AccessField   string // JSON field carrying the access token
	RefreshField  string // JSON field carrying the refresh token, "" if none
	ExpiresField  string // JSON field carrying the lifetime in seconds
	TokenType     string // required value of "token_type", "" if the field is absent
	Lifetime      int    // announced lifetime in seconds
	RefDefined    bool   // the seed does not document it; the reference defines it
	RefreshPath   string // relative to BasePath, "" if the profile has no refresh
	RefreshStyle  RefreshStyle
	RefreshBodyIn string // JSON field of the refresh request body (body style)
}

// KeyEndpoints are a profile's API-key management endpoints (paths relative
// to BasePath). Create returns the secret once; List never does.
type KeyEndpoints struct {
	Create     string // POST
	List       string // GET, "" when the profile has no listing
	Delete     string // DELETE Delete + "/{id}", "" when revocation is admin-only
	SecretJSON string // field of the create response carrying the secret
	IDJSON     string // field of the create response carrying the key id
	RefDefined bool
}

// Profile is one dialect: paths, prefixes, transports and error bodies.
type Profile struct {
	Name     ProfileName
	Seed     string // file name in shared/seeds
	BasePath string

	// UserKeyPrefix is the prefix of a user API key ("" if the profile has none).
	UserKeyPrefix string
	// Transports lists every way a user credential may be sent. The first
	// one is the documented default.
	Transports []Transport

	// DeviceKeyPrefix and DeviceKeyHeader describe device keys (iotistica).
	DeviceKeyPrefix string
	DeviceKeyHeader string
	// ProvisioningKeyPrefix is the prefix of single-use provisioning keys.
	ProvisioningKeyPrefix string

	Login *Login // nil when the profile has no login (requestrocket)
	Keys  *KeyEndpoints

	// JWTAlgs are the algorithms a deployment may choose from.
	JWTAlgs []string

	// PublicPaths need no credential (rigbox), relative to BasePath.
	PublicPaths []string

	// Err401Missing is the 401 body when no credential was sent; Err401 for
	// every other authentication failure; Err403 for a valid principal
	// without access; Err429 when rate limited.
	Err401Missing ErrorBody
	Err401        ErrorBody
	Err403        ErrorBody
	Err429        ErrorBody

	// RateLimitRefDefined is true where the seed does not document rate
	// limiting and the reference defines it (levels drop to SHOULD).
	RateLimitRefDefined bool
}

// Rate-limit response headers (seed 000; the reference uses them everywhere).
const (
	HeaderRateLimit     = "X-RateLimit-Limit"
	HeaderRateRemaining = "X-RateLimit-Remaining"
	HeaderRateReset     = "X-RateLimit-Reset" // unix seconds
	HeaderRetryAfter    = "Retry-After"       // seconds
)

var profiles = map[ProfileName]*Profile{
	Roboticks: {
		Name:          Roboticks,
		Seed:          "000_40b0ee3dfb1a23c8.txt",
		BasePath:      "/api/v1",
		UserKeyPrefix: "rbtk_",
		Transports:    []Transport{TransportBearer, TransportXAPIKey},
		Login: &Login{
			Path: "/auth/login", AccessField: "access_token", ExpiresField: "expires_in",
			TokenType: "bearer", Lifetime: 3600,
			RefreshPath: "/auth/refresh", RefreshStyle: RefreshBearerCurrent,
		},
		Keys:          &KeyEndpoints{Create: "/api-keys", List: "/api-keys", Delete: "/api-keys", SecretJSON: "key", IDJSON: "id", RefDefined: true},
		JWTAlgs:       []string{"HS256"},
		Err401Missing: Body(Exact("detail", "Could not validate credentials")),
		Err401:        Body(Exact("detail", "Could not validate credentials")),
		Err403:        Body(Exact("detail", "Not enough permissions")),
		Err429:        Body(Pattern("detail", `^Rate limit exceeded\. Try again in [0-9]+ seconds\.$`), Integer("retry_after")),
	},
	Rigbox: {
		Name:          Rigbox,
		Seed:          "001_f9d516d9eb8c901b.txt",
		BasePath:      "/api",
		UserKeyPrefix: "rb_",
		Transports:    []Transport{TransportBearer},
		Login: &Login{
			Path: "/auth/login", AccessField: "token", ExpiresField: "expires_in",
			Lifetime: 3600, RefDefined: true,
		},
		Keys:                &KeyEndpoints{Create: "/api-keys", List: "/api-keys", Delete: "/api-keys", SecretJSON: "key", IDJSON: "id", RefDefined: true},
		JWTAlgs:             []string{"HS256"},
		PublicPaths:         []string{"/capacity", "/templates"},
		Err401Missing:       Body(Exact("message", "Missing Authorization header")),
		Err401:              RefBody(AnyString("message")),
		Err403:              RefBody(AnyString("message")),
		Err429:              RefBody(AnyString("message"), Integer("retry_after")),
		RateLimitRefDefined: true,
	},
	RequestRocket: {
		Name:          RequestRocket,
		Seed:          "002_235db06305ff5f15.txt",
		BasePath:      "/api",
		UserKeyPrefix: "u-",
		Transports:    []Transport{TransportRawAuthorization},
		Err401Missing: Body(Exact("error", "Unauthorized"), Exact("message", "Invalid or missing authentication token"), Exact("status", 401)),
		Err401:        Body(Exact("error", "Unauthorized"), Exact("message", "Invalid or missing authentication token"), Exact("status", 401)),
		Err403:        Body(Exact("error", "Forbidden"), Exact("message", "Insufficient permissions to access this resource"), Exact("status", 403)),
		Err429:        RefBody(Exact("error", "Too Many Requests"), AnyString("message"), Exact("status", 429), Integer("retry_after")),
		// Tokens are permanent until revoked by support: the reference
		// offers an admin revoke endpoint (ref-defined).
		Keys:                &KeyEndpoints{Create: "/admin/tokens", Delete: "/admin/tokens", SecretJSON: "token", IDJSON: "id", RefDefined: true},
		RateLimitRefDefined: true,
	},
	Iotistica: {
		Name:                  Iotistica,
		Seed:                  "003_db142daa88a5f1c9.txt",
		BasePath:              "/api/v1",
		DeviceKeyPrefix:       "iotsk_live_",
		DeviceKeyHeader:       "X-Device-API-Key",
		ProvisioningKeyPrefix: "prov_",
		Transports:            []Transport{TransportBearer},
		Login: &Login{
			Path: "/auth/login", AccessField: "accessToken", RefreshField: "refreshToken", ExpiresField: "expiresIn",
			Lifetime: 3600, RefreshPath: "/auth/refresh", RefreshStyle: RefreshBodyToken, RefreshBodyIn: "refreshToken",
		},
		// List and Delete are ref-defined (the seed documents only creation).
		Keys:                &KeyEndpoints{Create: "/auth/api-keys", List: "/auth/api-keys", Delete: "/auth/api-keys", SecretJSON: "apiKey", IDJSON: "id"},
		JWTAlgs:             []string{"HS256", "RS256"},
		Err401Missing:       RefBody(Exact("error", "Unauthorized"), AnyString("message")),
		Err401:              RefBody(Exact("error", "Unauthorized"), AnyString("message")),
		Err403:              RefBody(Exact("error", "Forbidden"), AnyString("message")),
		Err429:              RefBody(Exact("error", "Too Many Requests"), AnyString("message"), Integer("retry_after")),
		RateLimitRefDefined: true,
	},
}

// Get returns the profile named n.
func Get(n ProfileName) (*Profile, error) {
	p, ok := profiles[n]
	if !ok {
		return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownProfile, n, AllProfiles)
	}
	return p, nil
}

// MustGet is Get for names known at compile time; it panics on an unknown name.
func MustGet(n ProfileName) *Profile {
	p, err := Get(n)
	if err != nil {
		panic(err)
	}
	return p
}

// ParseProfiles turns "all" or a comma-free profile name into a list.
func ParseProfiles(s string) ([]ProfileName, error) {
	if s == "all" {
		return append([]ProfileName(nil), AllProfiles...), nil
	}
	if _, err := Get(ProfileName(s)); err != nil {
		return nil, err
	}
	return []ProfileName{ProfileName(s)}, nil
}

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

// Names returns the profile names sorted, for messages.
func Names() []string {
	out := make([]string, 0, len(profiles))
	for n := range profiles {
		out = append(out, string(n))
	}
	sort.Strings(out)
	return out
}
