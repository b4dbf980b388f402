// Package forge makes hostile JWTs for the JWT checks: alg none, stripped
// or truncated signatures, altered payloads, key confusion, and validly
// signed tokens with chosen claims when the suite knows the key.
//
// These functions produce tokens that a correct server MUST reject (or, for
// Sign, tokens it must treat by their claims). They do NOT verify anything.
package forge

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

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

//go:embed weak-jwt-secrets.txt
var weakCorpus string

var (
	corpusOnce sync.Once
	corpus     []string
)

// WeakSecretCorpus is the suite's offline corpus of weak JWT HMAC secrets
// (weak-jwt-secrets.txt: written for authconform, CC0; well-known defaults
// plus systematic entries), without the empty secret, which callers try
// separately. The slice is shared: do not modify it.
func WeakSecretCorpus() []string {
	corpusOnce.Do(func() {
		for _, ln := range strings.Split(weakCorpus, "\n") {
			if ln == "" || strings.HasPrefix(ln, "# ") {
				continue
			}
			corpus = append(corpus, ln)
		}
	})
	return corpus
}

// WeakSecrets are common HS256 secrets (JWT-013, JWT-017), from public wordlists of
// leaked JWT secrets; every one is shorter than the 32 bytes RFC 7518 §3.2
// requires of an HS256 key.
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

// b64url is the base64url alphabet (RFC 4648 §5).
const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// NonCanonicalSignatures returns tok with the spare low bits of its
// signature's last base64url character set, every combination but the
// canonical one (RFC 7515 §2: base64url without padding; RFC 4648 §3.5:
// the pad bits of a canonical encoding are zero). A 32-byte HS256
// signature (43 characters) has 2 spare bits, so 3 variants; a 256-byte
// RS256 signature (342 characters) has 4, so 15. A lenient decoder reads
// every variant as the genuine signature. It returns nil when the
// signature has no spare bits or its last character is not canonical.
func NonCanonicalSignatures(tok string) []string {
	i := strings.LastIndex(tok, ".")
	if i < 0 || i == len(tok)-1 {
		return nil
	}
	n := len(tok) - i - 1
	spare := map[int]uint{2: 4, 3: 2}[n%4]
	last := strings.IndexByte(b64url, tok[len(tok)-1])
	if spare == 0 || last < 0 {
		return nil
	}
	mask := 1<<spare - 1
	if last&mask != 0 {
		return nil
	}
	var out []string
	for k := 1; k <= mask; k++ {
		out = append(out, tok[:len(tok)-1]+string(b64url[last|k]))
	}
	return out
}

// SignRaw signs the exact header and payload bytes given (JSON the
// encoding/json package would not write: duplicate names, 1e20 literals)
// with HS256 under secret when secret != "", else with RS256 under the PEM
// private key privPEM. The header's alg must match.
func SignRaw(header, payload []byte, secret, privPEM string) (string, error) {
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var (
		sig []byte
		err error
	)
	switch {
	case secret != "":
		sig, err = jwt.SigningMethodHS256.Sign(in, []byte(secret))
	case privPEM != "":
		var k *rsa.PrivateKey
		if k, err = jwt.ParseRSAPrivateKeyFromPEM([]byte(privPEM)); err != nil {
			return "", fmt.Errorf("forge: private key: %w", err)
		}
		sig, err = jwt.SigningMethodRS256.Sign(in, k)
	default:
		return "", errors.New("forge: no signing key known for this target (set control.jwtSecret or control.jwtPrivateKey)")
	}
	if err != nil {
		return "", err
	}
	return in + "." + b64.EncodeToString(sig), nil
}

// JWE encrypts plaintext (typically an unsigned alg none JWT) as a compact
// JWE (RFC 7516 §7.1) for the RSA public key pub: RSA-OAEP-256 key
// encryption, A256GCM content encryption, cty JWT. An attacker needs only
// the public key to make one; a server that decrypts it and trusts the JWT
// inside lets anyone mint tokens (sign–encrypt confusion, RFC 8725 §3.1).
// Hand-written on crypto/rsa and crypto/cipher: the suite only ever seals
// one token per spec, and no JOSE library is a dependency.
func JWE(pub *rsa.PublicKey, plaintext string) (string, error) {
	cek, iv := make([]byte, 32), make([]byte, 12)
	if _, err := rand.Read(cek); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	ek, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		return "", err
	}
	return sealJWE(`{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}`, ek, cek, iv, plaintext)
}

// OpaqueJWE is a well-formed 5-segment compact JWE nobody can decrypt: a
// "dir" JWE (RFC 7518 §4.5) whose content key is random and thrown away,
// around plaintext. A server must refuse it as it refuses any token it
// cannot verify.
func OpaqueJWE(plaintext string) (string, error) {
	cek, iv := make([]byte, 32), make([]byte, 12)
	if _, err := rand.Read(cek); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	return sealJWE(`{"alg":"dir","enc":"A256GCM","cty":"JWT"}`, nil, cek, iv, plaintext)
}

func sealJWE(header string, ek, cek, iv []byte, plaintext string) (string, error) {
	hdr := b64.EncodeToString([]byte(header))
	blk, err := aes.NewCipher(cek)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	sealed := gcm.Seal(nil, iv, []byte(plaintext), []byte(hdr)) // AAD: ASCII(BASE64URL(header)), RFC 7516 §5.1
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	return hdr + "." + b64.EncodeToString(ek) + "." + b64.EncodeToString(iv) + "." + b64.EncodeToString(ct) + "." + b64.EncodeToString(tag), nil
}

// CrackHS256 tries every candidate as the HMAC-SHA256 secret of tok
// offline and returns the index of the first that verifies its signature
// (-1 when none does, or tok is not an HS256 JWS). It sends nothing.
func CrackHS256(tok string, candidates []string) int {
	i := strings.LastIndex(tok, ".")
	if i < 0 {
		return -1
	}
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) != sha256.Size {
		return -1
	}
	in := []byte(tok[:i])
	var sum []byte
	for k, c := range candidates {
		m := hmac.New(sha256.New, []byte(c))
		m.Write(in)
		sum = m.Sum(sum[:0])
		if hmac.Equal(sum, sig) {
			return k
		}
	}
	return -1
}
