// Package forge makes hostile JWTs for the JWT checks: alg none, stripped
// or truncated signatures, altered payloads, key confusion, and validly
// signed tokens with chosen claims when the suite knows the key.
//
// These functions produce tokens that a correct server MUST reject (or, for
// Sign, tokens it must treat by their claims). They do NOT verify anything.
package forge

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

var b64 = base64.RawURLEncoding

// Parts splits a compact JWS.
func Parts(tok string) (header, payload map[string]any, sig string, err error) {
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		return nil, nil, "", errors.New("forge: not a compact JWS")
	}
	hb, err1 := b64.DecodeString(p[0])
	pb, err2 := b64.DecodeString(p[1])
	if err1 != nil || err2 != nil {
		return nil, nil, "", errors.New("forge: bad base64url")
	}
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &payload) != nil {
		return nil, nil, "", errors.New("forge: bad JSON")
	}
	return header, payload, p[2], nil
}

// Claims returns the payload of tok without verifying it.
func Claims(tok string) (map[string]any, error) {
	_, c, _, err := Parts(tok)
	return c, err
}

func enc(v any) string {
	b, _ := json.Marshal(v)
	return b64.EncodeToString(b)
}

// Assemble builds header.payload.sig from maps.
func Assemble(header, payload map[string]any, sig string) string {
	return enc(header) + "." + enc(payload) + "." + sig
}

// AlgNone re-signs tok's claims with alg set to name ("none", "None",
// "NONE") and an empty signature.
func AlgNone(tok, name string) (string, error) {
	h, p, _, err := Parts(tok)
	if err != nil {
		return "", err
	}
	h["alg"] = name
	return Assemble(h, p, ""), nil
}

// EmptySignature keeps header and payload and drops the signature.
func EmptySignature(tok string) string {
	i := strings.LastIndex(tok, ".")
	return tok[:i+1]
}

// StripSignature drops the signature and its dot.
func StripSignature(tok string) string {
	i := strings.LastIndex(tok, ".")
	return tok[:i]
}

// TruncateSignature cuts the last 4 characters of the signature.
func TruncateSignature(tok string) string { return tok[:len(tok)-4] }

// AlterPayload sets claim k to v and keeps the original signature.
func AlterPayload(tok, k string, v any) (string, error) {
	h, p, s, err := Parts(tok)
	if err != nil {
		return "", err
	}
	p[k] = v
	return Assemble(h, p, s), nil
}

// WithHeader sets header k to v and keeps the original signature (the
// signature no longer matches: kid/jku/x5u/jwk injection).
func WithHeader(tok, k string, v any) (string, error) {
	h, p, s, err := Parts(tok)
	if err != nil {
		return "", err
	}
	h[k] = v
	return Assemble(h, p, s), nil
}

// SignHS256 signs claims with secret.
func SignHS256(claims map[string]any, secret []byte) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
}

// SignHS256WithHeader signs claims with secret and extra header fields.
func SignHS256WithHeader(claims map[string]any, secret []byte, header map[string]any) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	for k, v := range header {
		t.Header[k] = v
	}
	return t.SignedString(secret)
}

// SignRS256 signs claims with a PEM private key.
func SignRS256(claims map[string]any, privPEM string) (string, error) {
	k, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(privPEM))
	if err != nil {
		return "", fmt.Errorf("forge: private key: %w", err)
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims)).SignedString(k)
}

// KeyConfusion signs claims with HS256 using the PEM public key bytes as
// the HMAC secret (RFC 8725 §2.1). A correct RS256 server rejects it.
func KeyConfusion(claims map[string]any, pubPEM string) (string, error) {
	return SignHS256(claims, []byte(pubPEM))
}

// PublicKey parses a PEM public key (to check it is one).
func PublicKey(pubPEM string) (*rsa.PublicKey, error) {
	return jwt.ParseRSAPublicKeyFromPEM([]byte(pubPEM))
}

// Resign copies tok's claims, applies edit, and signs with the deployment's
// key: HS256 with secret when secret != "", else RS256 with privPEM.
func Resign(tok string, secret, privPEM string, edit func(claims map[string]any)) (string, error) {
	h, p, _, err := Parts(tok)
	if err != nil {
		return "", err
	}
	edit(p)
	// The genuine header is kept as it is (typ too: a target may demand
	// its own explicit type such as "at+jwt", RFC 8725 §3.11); only alg
	// is the signer's.
	extra := map[string]any{}
	for k, v := range h {
		if k != "alg" {
			extra[k] = v
		}
	}
	_, hasTyp := h["typ"]
	if secret != "" {
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(p))
		for k, v := range extra {
			t.Header[k] = v
		}
		if !hasTyp {
			delete(t.Header, "typ")
		}
		return t.SignedString([]byte(secret))
	}
	if privPEM != "" {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(p))
		for k, v := range extra {
			t.Header[k] = v
		}
		if !hasTyp {
			delete(t.Header, "typ")
		}
		key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(privPEM))
		if err != nil {
			return "", fmt.Errorf("forge: private key: %w", err)
		}
		return t.SignedString(key)
	}
	return "", errors.New("forge: no signing key known for this target (set control.jwtSecret or control.jwtPrivateKey)")
}

// WeakSecrets are common HS256 secrets (JWT-013), from public wordlists of
// leaked JWT secrets.
var WeakSecrets = []string{"secret", "secretkey", "your-256-bit-secret", "changeme", "password", "jwt_secret", "your-hs256-secret", "123456", "key", "test"}

// IsJWS reports whether s looks like a compact JWS: three base64url
// segments whose first decodes to a JSON object with an "alg". It verifies
// nothing; it only tells a token apart from other strings of a response.
func IsJWS(s string) bool {
	h, _, _, err := Parts(s)
	if err != nil {
		return false
	}
	_, ok := h["alg"].(string)
	return ok
}
