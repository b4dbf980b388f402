package provkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/authconform/authconform/fixtures"
)

// Deployment variables of seed 003.
const (
	VarLicenseKey       = "LICENSE_KEY"
	VarLicensePublicKey = "LICENSE_PUBLIC_KEY"
)

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

// License returns a license valid for a day with maxDevices and features.
func License(maxDevices int, f fixtures.Features) fixtures.License {
	now := time.Now()
	return fixtures.License{MaxDevices: maxDevices, Features: f, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(24 * time.Hour)}
}

// Mint signs l with the run's license key.
func (lk *Licensor) Mint(l fixtures.License) (string, error) { return fixtures.MintLicense(l, lk.priv) }

// Vars returns the deployment variables for a license token checked
// against the run's public key. LICENSE_KEY is always set: "" is a
// deployment without a license (an unset variable may mean "use a default
// license" to an implementation, as it does to the reference).
func (lk *Licensor) Vars(token string) map[string]string {
	return map[string]string{VarLicensePublicKey: lk.PublicPEM, VarLicenseKey: token}
}

// ForeignSigned signs l with an unrelated key: the signature must not verify.
func ForeignSigned(l fixtures.License) (string, error) {
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("provkit: foreign license key: %w", err)
	}
	return fixtures.MintLicense(l, other)
}

// AlgNone returns l unsigned (alg none).
func AlgNone(l fixtures.License) string { return fixtures.MintAlgNoneLicense(l) }
