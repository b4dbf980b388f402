package provkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Deployment variables of seed 003.
const (
	VarLicenseKey       = "LICENSE_KEY"
	VarLicensePublicKey = "LICENSE_PUBLIC_KEY"
)

// Features are the premium features a license grants. The seed names them
// (advanced anomaly, data export, AI); the claim names are SPEC.md's.
type Features struct {
	AdvancedAnomaly bool `json:"advancedAnomaly"`
	DataExport      bool `json:"dataExport"`
	AI              bool `json:"ai"`
}

// AllFeatures grants every premium feature.
var AllFeatures = Features{AdvancedAnomaly: true, DataExport: true, AI: true}

// License is what a Licensor signs.
type License struct {
	MaxDevices int
	Features   Features
	IssuedAt   time.Time
	ExpiresAt  time.Time // zero: no exp claim
}

// licenseClaims are the claims of a license JWT. The seed only says "a
// signed license JWT"; the claim set (maxDevices, features, token_use
// "license" so that a license never stands in for an access token) and
// the algorithm (EdDSA) are the reference's. The license checks run only
// where the suite deploys the implementation itself.
type licenseClaims struct {
	jwt.RegisteredClaims
	TokenUse   string   `json:"token_use"`
	MaxDevices int      `json:"maxDevices"`
	Features   Features `json:"features"`
}

func (l License) claims() licenseClaims {
	c := licenseClaims{TokenUse: "license", MaxDevices: l.MaxDevices, Features: l.Features}
	c.Issuer = "iotistica-licensing"
	c.Subject = "authconform"
	if !l.IssuedAt.IsZero() {
		c.IssuedAt = jwt.NewNumericDate(l.IssuedAt)
	}
	if !l.ExpiresAt.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(l.ExpiresAt)
	}
	return c
}

// Licensor signs license JWTs with a key pair generated for this run, so a
// deployment only accepts them when it really verifies against the
// LICENSE_PUBLIC_KEY the suite passes (seed 003: "checked with
// LICENSE_PUBLIC_KEY at start"), not against a built-in key.
type Licensor struct {
	priv ed25519.PrivateKey
	// PublicPEM is the PKIX PEM of the public key, for LICENSE_PUBLIC_KEY.
	PublicPEM string
}

// NewLicensor generates a fresh Ed25519 license key pair.
func NewLicensor() (*Licensor, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provkit: license key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("provkit: license key: %w", err)
	}
	return &Licensor{priv: priv, PublicPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// NewLicense returns a license valid for a day with maxDevices and f.
func NewLicense(maxDevices int, f Features) License {
	now := time.Now()
	return License{MaxDevices: maxDevices, Features: f, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(24 * time.Hour)}
}

func mint(l License, key ed25519.PrivateKey) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, l.claims()).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("provkit: mint license: %w", err)
	}
	return s, nil
}

// Mint signs l with the run's license key.
func (lk *Licensor) Mint(l License) (string, error) { return mint(l, lk.priv) }

// Vars returns the deployment variables for a license token checked
// against the run's public key. LICENSE_KEY is always set: "" is a
// deployment without a license (an unset variable may mean "use a default
// license" to an implementation, as it does to the reference).
func (lk *Licensor) Vars(token string) map[string]string {
	return map[string]string{VarLicensePublicKey: lk.PublicPEM, VarLicenseKey: token}
}

// ForeignSigned signs l with an unrelated key: the signature must not verify.
func ForeignSigned(l License) (string, error) {
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("provkit: foreign license key: %w", err)
	}
	return mint(l, other)
}

// AlgNone returns l unsigned (alg none).
func AlgNone(l License) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, l.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}
