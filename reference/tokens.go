package reference

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/fixtures"
)

// Token lifetimes and validation bounds.
const (
	// Leeway is the clock skew tolerated on exp, nbf and iat (JWT-006 allows
	// at most 60 s; the zero-leeway variant tolerates none).
	Leeway = 30 * time.Second
	// AccessTokenLifetime is exp - iat of every access token (seeds 000, 003).
	AccessTokenLifetime = 3600 * time.Second
	// RefreshTokenLifetime is the lifetime of iotistica refresh tokens
	// (ref-defined).
	RefreshTokenLifetime = 7 * 24 * time.Hour
	// MaxTokenLen bounds a JWT before any parsing.
	MaxTokenLen = 8192
	// MinHS256SecretLen is the shortest JWT_SECRET accepted (RFC 7518 §3.2:
	// a key at least as long as the hash output).
	MinHS256SecretLen = 32
)

// Token uses (the token_use claim): an access token is never a refresh
// token, and neither is a license.
const (
	useAccess  = "access"
	useRefresh = "refresh"
)

type tokenClaims struct {
	jwt.RegisteredClaims
	TokenUse string `json:"token_use"`
	Family   string `json:"fam,omitempty"`
}

// maxNumericDate bounds exp, nbf and iat (seconds; about the year 36800).
const maxNumericDate = 1 << 40

// errClaimType is a time claim that is not a JSON number in range.
var errClaimType = errors.New("reference: exp, nbf and iat must be JSON numbers (RFC 7519 §2 NumericDate)")

// strictClaimTypes refuses a token whose exp, nbf or iat is not a JSON
// number in range: golang-jwt's NumericDate also takes a numeric string
// ("exp":"1700000000"), reads null as absent, and converts 1e20 seconds
// to an arbitrary instant (no range check); such a claim is in no token
// the reference issued (JWT-016). It decodes the payload a second time,
// about a microsecond per token.
func strictClaimTypes(tok string) error {
	i, j := strings.IndexByte(tok, '.'), strings.LastIndexByte(tok, '.')
	if i < 0 || j <= i {
		return errClaimType
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[i+1 : j])
	if err != nil {
		return errClaimType
	}
	var raw struct {
		Exp, Nbf, Iat json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return errClaimType
	}
	for _, v := range []json.RawMessage{raw.Exp, raw.Nbf, raw.Iat} {
		if v == nil {
			continue
		}
		if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return errClaimType
		}
		if f, err := strconv.ParseFloat(string(v), 64); err != nil || math.Abs(f) > maxNumericDate {
			return errClaimType
		}
	}
	return nil
}

// jwtKeys is the deployment's signing configuration: exactly one alg.
type jwtKeys struct {
	alg       string
	method    jwt.SigningMethod
	signKey   any
	verifyKey any
	secret    string // HS256
	privPEM   string // RS256
	pubPEM    string // RS256, normalised
}

// unescapePEM turns the literal "\n" sequences of a one-line environment
// variable (seed 003 writes them that way) into newlines.
func unescapePEM(s string) string {
	if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
		s = strings.ReplaceAll(s, `\n`, "\n")
	}
	return strings.TrimSpace(s) + "\n"
}

// jwtKeysFromEnv applies seed 003's rule: JWT_SECRET selects HS256,
// JWT_PUBLIC_KEY + JWT_PRIVATE_KEY select RS256; both, or half a pair, is an
// error; neither means the fixtures' HS256 test secret.
func jwtKeysFromEnv(env map[string]string) (*jwtKeys, error) {
	secret, hasSecret := env["JWT_SECRET"]
	pub, hasPub := env["JWT_PUBLIC_KEY"]
	priv, hasPriv := env["JWT_PRIVATE_KEY"]
	switch {
	case hasSecret && (hasPub || hasPriv):
		return nil, fmt.Errorf("%w: JWT_SECRET and JWT_PUBLIC_KEY/JWT_PRIVATE_KEY are both set; choose HS256 (JWT_SECRET) or RS256 (the key pair)", ErrConfig)
	case hasPub != hasPriv:
		return nil, fmt.Errorf("%w: only one of JWT_PUBLIC_KEY and JWT_PRIVATE_KEY is set; RS256 needs both", ErrConfig)
	case hasSecret:
		if len(secret) < MinHS256SecretLen {
			return nil, fmt.Errorf("%w: JWT_SECRET is %d bytes; HS256 needs at least %d", ErrConfig, len(secret), MinHS256SecretLen)
		}
		return &jwtKeys{alg: "HS256", method: jwt.SigningMethodHS256, signKey: []byte(secret), verifyKey: []byte(secret), secret: secret}, nil
	case hasPub:
		privPEM, pubPEM := unescapePEM(priv), unescapePEM(pub)
		pk, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(privPEM))
		if err != nil {
			return nil, fmt.Errorf("%w: JWT_PRIVATE_KEY is not an RSA private key in PEM (PKCS#1 or PKCS#8)", ErrConfig)
		}
		pubk, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pubPEM))
		if err != nil {
			return nil, fmt.Errorf("%w: JWT_PUBLIC_KEY is not an RSA public key in PEM", ErrConfig)
		}
		if !pk.PublicKey.Equal(pubk) {
			return nil, fmt.Errorf("%w: JWT_PUBLIC_KEY does not belong to JWT_PRIVATE_KEY", ErrConfig)
		}
		if pk.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: JWT_PRIVATE_KEY has %d bits; RS256 needs at least 2048", ErrConfig, pk.N.BitLen())
		}
		return &jwtKeys{alg: "RS256", method: jwt.SigningMethodRS256, signKey: pk, verifyKey: pubk, privPEM: privPEM, pubPEM: pubPEM}, nil
	default:
		s := fixtures.JWTSecret
		return &jwtKeys{alg: "HS256", method: jwt.SigningMethodHS256, signKey: []byte(s), verifyKey: []byte(s), secret: s}, nil
	}
}

func (s *Server) issuer() string { return "authconform-reference/" + string(s.profile.Name) }

// issue signs a token of the given use for user id.
func (s *Server) issue(userID, use, fam, jti string, lifetime time.Duration) (string, error) {
	now := s.now().Truncate(time.Second)
	if jti == "" {
		jti = newID("jti_")
	}
	c := tokenClaims{TokenUse: use, Family: fam}
	c.Issuer = s.issuer()
	c.Subject = userID
	c.ID = jti
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(lifetime))
	return jwt.NewWithClaims(s.keys.method, c).SignedString(s.keys.signKey)
}

func (s *Server) accessLifetime() time.Duration {
	if s.faults.on(FaultWrongTokenLifetime) {
		return 2 * AccessTokenLifetime
	}
	return AccessTokenLifetime
}

var errToken = errors.New("reference: invalid token")

func (s *Server) parserOpts(leeway time.Duration, algs ...string) []jwt.ParserOption {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(s.issuer()),
		jwt.WithTimeFunc(s.now),
	}
	if !s.variants.on(VariantLenientJWT) {
		// RFC 7515 §2: base64url without padding; a signature whose last
		// character has spare bits set is not the canonical encoding of
		// any signature and is refused (JWT-014). golang-jwt accepts it
		// unless told otherwise.
		opts = append(opts, jwt.WithStrictDecoding())
	}
	return opts
}

// jwsHeader is what the reference reads of a JWS header before trusting
// anything: alg, typ, and whether it names critical extensions.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// headerOf decodes the header of a compact JWS without trusting it (the
// zero header when it cannot be decoded).
func headerOf(tok string) jwsHeader {
	var h jwsHeader
	i := strings.IndexByte(tok, '.')
	if i <= 0 || i > 1024 {
		return h
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok[:i], "="))
	if err != nil {
		return h
	}
	if json.Unmarshal(b, &h) != nil {
		return jwsHeader{}
	}
	return h
}

// headerAlg decodes the alg of a compact JWS without trusting it.
func headerAlg(tok string) string { return headerOf(tok).Alg }

// decodeUnverified decodes the payload of a compact JWS WITHOUT verifying
// anything. Only the fault paths use it.
func decodeUnverified(tok string, c *tokenClaims) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(b, c) == nil
}

// verify checks tok as a token of the given use. strict ignores the JWT
// faults (used where a fault must not leak into another check).
//
// acceptExpired (a fault) lets a token through whose only defect is its
// expiry: the signature and every other claim are still checked.
func (s *Server) verify(tok, use string, leeway time.Duration, faulty, acceptExpired bool) (*tokenClaims, error) {
	if faulty && s.faults.on(FaultJWEUnsignedInner) && s.keys.alg == "RS256" && len(tok) <= MaxTokenLen && strings.Count(tok, ".") == 4 {
		// DELIBERATE DEFECT: a compact JWE is decrypted and the JWT inside
		// trusted without verifying its signature (alg none included).
		return s.unwrapJWE(tok, use, leeway)
	}
	if len(tok) > MaxTokenLen || strings.Count(tok, ".") != 2 {
		return nil, errToken
	}
	if s.variants.on(VariantZeroLeeway) {
		// Conformant variant: a token is refused the second it expires
		// (RFC 7519 §4.1.4 only allows "some small leeway").
		leeway = 0
	}
	var c tokenClaims
	h := headerOf(tok)
	alg := h.Alg
	// RFC 7515 §4.1.11: a JWS naming critical extensions the recipient
	// does not understand is invalid; the reference understands none, and
	// golang-jwt does not look at crit at all (JWT-018).
	if h.Crit != nil && !(faulty && s.faults.on(FaultIgnoreCrit)) {
		return nil, errToken
	}
	// The reference issues typ "JWT" (RFC 7519 §5.1); a token without it
	// is not one of its tokens (RFC 8725 §3.11 explicit typing; JWT-016).
	lenient := s.variants.on(VariantLenientJWT)
	if !strings.EqualFold(h.Typ, "JWT") && !lenient {
		return nil, errToken
	}
	skipTypes := lenient
	switch {
	case faulty && s.faults.on(FaultAcceptAlgNone) && strings.EqualFold(alg, "none"),
		faulty && s.faults.on(FaultSkipSignatureCheck) && alg == s.keys.alg && !strings.HasSuffix(tok, "."):
		// DELIBERATE DEFECT: the signature is NOT verified.
		if !decodeUnverified(tok, &c) {
			return nil, errToken
		}
		if err := jwt.NewValidator(s.parserOpts(leeway, alg)...).Validate(&c); err != nil {
			return nil, errToken
		}
	case faulty && s.faults.on(FaultRS256KeyConfusion) && s.keys.alg == "RS256" && alg == "HS256":
		// DELIBERATE DEFECT: the public key PEM is used as an HMAC secret.
		ok := false
		for _, k := range []string{s.keys.pubPEM, strings.TrimSpace(s.keys.pubPEM)} {
			c = tokenClaims{}
			if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(k), nil }, s.parserOpts(leeway, "HS256")...); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return nil, errToken
		}
	case faulty && s.faults.on(FaultRS256HMACFallback) && s.keys.alg == "RS256" && alg == "HS256":
		// DELIBERATE DEFECT: an RS256 deployment still verifies HS256
		// tokens with the HMAC secret it had before (a framework default).
		if _, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(hmacFallbackSecret), nil }, s.parserOpts(leeway, "HS256")...); err != nil {
			return nil, errToken
		}
	case faulty && s.faults.on(FaultExpTypeUnchecked) && expNotNumber(tok):
		// DELIBERATE DEFECT: exp is required by its presence, but a value
		// that is not a number (a string, null) is skipped as if absent.
		m := jwt.MapClaims{}
		p := jwt.NewParser(jwt.WithValidMethods([]string{s.keys.alg}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
		if _, err := p.ParseWithClaims(tok, m, func(*jwt.Token) (any, error) { return s.keys.verifyKey, nil }); err != nil {
			return nil, errToken
		}
		skipTypes = true // the defect skips them
		delete(m, "exp")
		b, _ := json.Marshal(m)
		if json.Unmarshal(b, &c) != nil {
			return nil, errToken
		}
		opts := []jwt.ParserOption{jwt.WithLeeway(leeway), jwt.WithIssuedAt(), jwt.WithIssuer(s.issuer()), jwt.WithTimeFunc(s.now)}
		if jwt.NewValidator(opts...).Validate(&c) != nil {
			return nil, errToken
		}
	default:
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return s.keys.verifyKey, nil }, s.parserOpts(leeway, s.keys.alg)...)
		if err != nil && !(acceptExpired && onlyExpired(err)) {
			return nil, errToken
		}
	}
	if !skipTypes && strictClaimTypes(tok) != nil {
		return nil, errToken
	}
	if c.TokenUse != use || c.Subject == "" {
		return nil, errToken
	}
	// No token of the reference lives longer than a refresh token: an exp
	// beyond that (1e20) is not one it issued, and an nbf or iat that far
	// ahead (which golang-jwt's overflowing time arithmetic may let pass)
	// is not valid yet (JWT-016).
	horizon := s.now().Add(RefreshTokenLifetime + leeway)
	for _, d := range []*jwt.NumericDate{c.ExpiresAt, c.NotBefore, c.IssuedAt} {
		if d != nil && d.After(horizon) && !lenient {
			return nil, errToken
		}
	}
	return &c, nil
}

// onlyExpired reports whether a validation error is about expiry alone.
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}

// verifyAccess validates an access token presented as a bearer credential.
func (s *Server) verifyAccess(tok string) (*tokenClaims, error) {
	// DELIBERATE DEFECT under accept-expired-jwt: expiry is not enforced.
	return s.verify(tok, useAccess, Leeway, true, s.faults.on(FaultAcceptExpiredJWT))
}

// hmacFallbackSecret is the HS256 secret FaultRS256HMACFallback keeps
// accepting on an RS256 deployment.
const hmacFallbackSecret = "secret"

// expNotNumber reports whether the (unverified) payload of tok has an exp
// claim that is not a JSON number. Only a fault path uses it.
func expNotNumber(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	v, ok := m["exp"]
	return ok && len(v) > 0 && v[0] != '-' && (v[0] < '0' || v[0] > '9')
}

// unwrapJWE is the DELIBERATE DEFECT of FaultJWEUnsignedInner: a compact
// JWE (RSA-OAEP-256, A256GCM) is decrypted with the deployment's RSA key
// and the JWT inside is trusted without verifying its signature.
func (s *Server) unwrapJWE(tok, use string, leeway time.Duration) (*tokenClaims, error) {
	parts := strings.Split(tok, ".")
	priv, ok := s.keys.signKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errToken
	}
	var seg [5][]byte
	for i := 1; i < 5; i++ {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, errToken
		}
		seg[i] = b
	}
	cek, err := rsa.DecryptOAEP(sha256.New(), nil, priv, seg[1], nil)
	if err != nil {
		return nil, errToken
	}
	blk, err := aes.NewCipher(cek)
	if err != nil {
		return nil, errToken
	}
	gcm, err := cipher.NewGCM(blk)
	if err != nil || len(seg[2]) != gcm.NonceSize() {
		return nil, errToken
	}
	inner, err := gcm.Open(nil, seg[2], append(seg[3], seg[4]...), []byte(parts[0]))
	if err != nil {
		return nil, errToken
	}
	var c tokenClaims
	if !decodeUnverified(string(inner), &c) {
		return nil, errToken
	}
	if jwt.NewValidator(s.parserOpts(leeway, "none")...).Validate(&c) != nil || c.TokenUse != use || c.Subject == "" {
		return nil, errToken
	}
	return &c, nil
}
