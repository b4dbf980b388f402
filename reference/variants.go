package reference

import (
	"errors"
	"fmt"
	"sort"

	"github.com/authconform/authconform/spec"
)

// VariantInfo describes one conformant variant: a way the reference
// differs from itself that SPEC.md allows. Variants are the dual of faults:
// a fault must make its check fail; every check must still pass (0 MUST
// failed, 0 error) against every variant. TargetNote says what the
// variant's target file must declare, if anything (e.g. keyAPI).
type VariantInfo struct {
	Name        string
	Description string
	Profiles    []spec.ProfileName
	// MayFailShould lists the SHOULD checks the variant may fail (what it
	// changes is allowed, but not recommended). No MUST check may fail and
	// no check may be error.
	MayFailShould []string
}

// Variant names.
const (
	VariantZeroLeeway       = "zero-leeway"
	VariantExtraErrorFields = "extra-error-fields"
	VariantHeaderLimit16k   = "header-limit-16k"
	VariantFirstHeaderWins  = "first-header-wins"
	VariantAltKeyPaths      = "alt-key-paths"
	VariantCamelRetryAfter  = "camel-retry-after"
	// VariantDraftRateLimit also sends the draft-12 RateLimit fields.
	VariantDraftRateLimit = "draft-ratelimit-headers"
	VariantLenientJWT     = "lenient-jwt"
)

// ErrUnknownVariant is returned for a variant name not in the registry.
var ErrUnknownVariant = errors.New("reference: unknown variant")

var variantRegistry = []VariantInfo{
	{VariantZeroLeeway, "JWTs are refused the second they expire (no leeway: RFC 7519 §4.1.4 only says MAY)", withLogin, nil},
	{VariantExtraErrorFields, "every error body carries an extra field \"statusCode\" (extra fields are allowed)", spec.AllProfiles, nil},
	{VariantHeaderLimit16k, "a request whose header block exceeds 16 KiB gets 431 and the connection is closed", spec.AllProfiles, nil},
	{VariantFirstHeaderWins, "of two Authorization (or X-API-Key) headers the first is served (AUTH-008 is only SHOULD)", spec.AllProfiles, []string{"AUTH-008"}},
	{VariantAltKeyPaths, "key management lives at /keys (create POST /keys, list GET /keys, revoke DELETE /keys/{id}); its target file declares keyAPI", where(func(p *spec.Profile) bool { return p.UserKeyPrefix != "" && p.Keys != nil }), nil},
	{VariantCamelRetryAfter, "iotistica's 429 body says retryAfter instead of retry_after (the body is ref-defined)", where(func(p *spec.Profile) bool { return p.Err401Missing.RefDefined && p.Err429.RefDefined }), []string{"RATE-003"}},
	{VariantDraftRateLimit, "besides X-RateLimit-*, every rate-limited response carries draft-ietf-httpapi-ratelimit-headers-12 RateLimit-Policy: \"default\";q=LIMIT;w=WINDOW and RateLimit: \"default\";r=REMAINING;t=SECONDS", spec.AllProfiles, nil},
	{VariantLenientJWT, "JWTs are read with golang-jwt v5's lenient defaults wherever only SHOULD applies: non-canonical base64url accepted, numeric strings and any number taken as NumericDates (no range bound), typ not required; crit is still refused (RFC 7515 §4.1.11 MUST)", withLogin, []string{"JWT-014", "JWT-016"}},
}

// Variants returns the variant registry sorted by name.
func Variants() []VariantInfo {
	out := append([]VariantInfo(nil), variantRegistry...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupVariant returns the variant called name.
func LookupVariant(name string) (VariantInfo, error) {
	for _, v := range variantRegistry {
		if v.Name == name {
			return v, nil
		}
	}
	return VariantInfo{}, fmt.Errorf("%w: %q (see 'authconform reference --help' for the list)", ErrUnknownVariant, name)
}

// headerLimit16kMaxHeaderBytes is http.Server.MaxHeaderBytes under
// header-limit-16k: net/http reads up to MaxHeaderBytes + 4096 bytes of
// request line and headers, so a header block over 16 KiB gets 431 and
// the connection is closed, while the rest of the request may still be
// unread (the client can see a failed write).
const headerLimit16kMaxHeaderBytes = 16<<10 - 4096

type variantSet map[string]bool

func (v variantSet) on(name string) bool { return v[name] }
