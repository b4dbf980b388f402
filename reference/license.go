package reference

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/fixtures"
)

// licenseState is the license the deployment started with.
//
// The rule (iotistica; other profiles ignore licenses):
//   - Env has no "LICENSE_KEY" entry (including a nil Env): the fixtures'
//     default license (fixtures.DefaultLicenseToken: 100 devices, every
//     feature, valid until 2036-01-01), verified like any other.
//   - Env has "LICENSE_KEY" (even ""): that value is the license. Empty,
//     not a JWT, not EdDSA, badly signed, alg none, expired (beyond
//     Leeway), without exp, or token_use != "license": restricted mode.
//   - The license is verified with Env["LICENSE_PUBLIC_KEY"] (Ed25519 PEM,
//     literal "\n" accepted) or, when absent, the fixtures' license public
//     key. A LICENSE_PUBLIC_KEY that is not an Ed25519 public key is a
//     configuration error (New fails).
//   - Expiry is re-checked on every request: a license that expires while
//     the server runs switches it to restricted mode.
//
// Device limit: maxDevices limits, per organisation, the agents holding at
// least one non-revoked device key (revoking an agent's last key frees its
// seat). Counting and inserting happen under the store lock.
//
// Restricted mode: existing device keys keep working over HTTP and MQTT,
// and keys may still be added for existing agents; new registrations
// (POST /provision/agent, POST /auth/api-keys for a new agentUuid) and the
// premium endpoints get 403.
type licenseState struct {
	token      string
	valid      bool
	reason     string // why restricted (never contains the token)
	maxDevices int
	features   fixtures.Features
	expires    time.Time
}

func parseEd25519Public(p string) (crypto.PublicKey, error) {
	b, _ := pem.Decode([]byte(unescapePEM(p)))
	if b == nil {
		return nil, fmt.Errorf("%w: LICENSE_PUBLIC_KEY is not PEM", ErrConfig)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: LICENSE_PUBLIC_KEY is not a PKIX public key", ErrConfig)
	}
	if _, ok := k.(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("%w: LICENSE_PUBLIC_KEY is not an Ed25519 key (licenses are EdDSA)", ErrConfig)
	}
	return k, nil
}

func loadLicense(env map[string]string, now func() time.Time, unchecked bool) (licenseState, error) {
	pubPEM, ok := env["LICENSE_PUBLIC_KEY"]
	if !ok {
		pubPEM = fixtures.LicensePublicKeyPEM
	}
	pub, err := parseEd25519Public(pubPEM)
	if err != nil {
		return licenseState{}, err
	}
	tok, has := env["LICENSE_KEY"]
	if !has {
		tok = fixtures.DefaultLicenseToken()
	}
	st := licenseState{token: tok}
	if tok == "" {
		if unchecked {
			// DELIBERATE DEFECT: no license means unlimited.
			return licenseState{valid: true, maxDevices: 1 << 30, features: fixtures.AllFeatures}, nil
		}
		st.reason = "no license (LICENSE_KEY is empty)"
		return st, nil
	}
	var c fixtures.LicenseClaims
	if unchecked {
		// DELIBERATE DEFECT: neither signature nor expiry is verified.
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
			st.reason = "license is not a JWT"
			return st, nil
		}
		st.valid, st.maxDevices, st.features = true, c.MaxDevices, c.Features
		return st, nil
	}
	_, err = jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway), jwt.WithTimeFunc(now))
	switch {
	case err != nil:
		st.reason = "license rejected: " + licenseReason(err)
	case c.TokenUse != "license":
		st.reason = "license rejected: token_use is not \"license\""
	case c.MaxDevices < 0:
		st.reason = "license rejected: negative maxDevices"
	default:
		st.valid, st.maxDevices, st.features = true, c.MaxDevices, c.Features
		st.expires = c.ExpiresAt.Time
	}
	return st, nil
}

func licenseReason(err error) string {
	switch {
	case errorsIs(err, jwt.ErrTokenExpired):
		return "expired"
	case errorsIs(err, jwt.ErrTokenSignatureInvalid), errorsIs(err, jwt.ErrTokenUnverifiable):
		return "bad signature or algorithm"
	case errorsIs(err, jwt.ErrTokenRequiredClaimMissing):
		return "no exp claim"
	case errorsIs(err, jwt.ErrTokenMalformed):
		return "malformed"
	default:
		return "invalid"
	}
}

// license returns the current license state and whether the deployment is
// restricted now.
func (s *Server) license() (licenseState, bool) {
	l := s.lic
	if !l.valid {
		return l, true
	}
	if !l.expires.IsZero() && s.now().After(l.expires.Add(Leeway)) {
		l.valid, l.reason = false, "license rejected: expired"
		return l, true
	}
	return l, false
}
