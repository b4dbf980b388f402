// Package reference is the in-memory reference implementation of the four
// profiles of SPEC.md §1 (roboticks, rigbox, requestrocket, iotistica): one
// core (store, keys, tokens, rate limiter, provisioning, license, MQTT-auth
// endpoints) and one dialect per profile (paths, transports, error bodies).
//
// It loads the fixtures (package fixtures) at start. With Config.Faults it
// carries deliberate defects (mutants) that the conformance suite must
// catch; see Faults.
package reference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/reference/ratelimit"
	"github.com/authconform/authconform/spec"
)

// Defaults.
const (
	// DefaultRateLimit / DefaultRateWindow are the budget of every key and
	// user except the fixtures' rate-limited key: large, so load tests are
	// not throttled.
	DefaultRateLimit  = 1_000_000
	DefaultRateWindow = 60 * time.Second
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes = 64 << 10
	// MaxHeaderBytes is http.Server.MaxHeaderBytes for Start: a 64 KiB
	// header reaches the handlers (and gets 401); beyond 1 MiB Go answers 431.
	MaxHeaderBytes = 1 << 20
	// DefaultProvisioningTTL is the lifetime of a provisioning key when the
	// request does not choose one.
	DefaultProvisioningTTL = time.Hour
)

// Config configures a Server.
type Config struct {
	Profile spec.ProfileName
	// Faults are fault names (see Faults); an unknown name is an error
	// wrapping ErrUnknownFault.
	Faults []string
	// Variants are conformant variants (see Variants): allowed differences
	// every check must still pass; an unknown name is an error wrapping
	// ErrUnknownVariant.
	Variants []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Env holds the deployment variables of seed 003: JWT_SECRET,
	// JWT_PUBLIC_KEY, JWT_PRIVATE_KEY, LICENSE_KEY, LICENSE_PUBLIC_KEY.
	// See jwtKeysFromEnv and licenseState for the exact rules.
	Env map[string]string
	// Logger gets structured logs; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// RateLimit requests per RateWindow for ordinary keys and users;
	// 0 means DefaultRateLimit per DefaultRateWindow.
	RateLimit  int
	RateWindow time.Duration
	// LimitedKeyLimit / LimitedKeyWindow override the budget of the
	// fixtures' rate-limited key (default fixtures.RateLimitedLimit per
	// fixtures.RateLimitedWindow).
	LimitedKeyLimit  int
	LimitedKeyWindow time.Duration
}

// Server is one running profile. It is safe for concurrent use.
type Server struct {
	cfg      Config
	profile  *spec.Profile
	dialect  dialect
	faults   faultSet
	variants variantSet
	now      func() time.Time
	log      *slog.Logger
	keys     *jwtKeys
	lic      licenseState
	limiter  *ratelimit.Limiter
	// credHeaders are the headers credentials reads (fixed by profile and faults).
	credHeaders []credHeader
	st          *store
	fix         *fixtures.Data
	handler     http.Handler
}

// New builds a Server from cfg and loads the fixtures.
func New(cfg Config) (*Server, error) {
	p, err := spec.Get(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	fs := faultSet{}
	for _, f := range cfg.Faults {
		if _, err := LookupFault(f); err != nil {
			return nil, err
		}
		fs[f] = true
	}
	vs := variantSet{}
	for _, v := range cfg.Variants {
		if _, err := LookupVariant(v); err != nil {
			return nil, err
		}
		vs[v] = true
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.LimitedKeyLimit <= 0 {
		cfg.LimitedKeyLimit = fixtures.RateLimitedLimit
	}
	if cfg.LimitedKeyWindow <= 0 {
		cfg.LimitedKeyWindow = fixtures.RateLimitedWindow
	}
	s := &Server{cfg: cfg, profile: p, dialect: dialectFor(p), faults: fs, variants: vs, now: cfg.Now, log: cfg.Logger.With("profile", string(p.Name))}
	if s.keys, err = jwtKeysFromEnv(cfg.Env); err != nil {
		return nil, err
	}
	if p.Can(spec.CapLicense) {
		if s.lic, err = loadLicense(cfg.Env, cfg.Now, fs.on(FaultLicenseUnchecked)); err != nil {
			return nil, err
		}
	}
	s.limiter = ratelimit.New(cfg.Now, ratelimit.Defects{
		Racy:       fs.on(FaultRacyRateLimiter),
		NeverReset: fs.on(FaultRateLimitNeverResets),
		Global:     fs.on(FaultGlobalRateLimit),
	})
	if s.fix, err = fixtures.For(p.Name); err != nil {
		return nil, err
	}
	s.credHeaders = credentialHeaders(p, fs)
	s.st = s.load(s.fix)
	s.handler = s.routes()
	attrs := []any{"jwtAlg", s.keys.alg, "faults", strings.Join(cfg.Faults, ",")}
	if p.Can(spec.CapLicense) {
		l, restricted := s.license()
		attrs = append(attrs, "licenseRestricted", restricted, "maxDevices", l.maxDevices)
		if restricted {
			attrs = append(attrs, "licenseReason", l.reason)
		}
	}
	s.log.Info("reference ready", attrs...)
	return s, nil
}

// load fills the store from the fixtures: hashes only, never plain keys.
func (s *Server) load(d *fixtures.Data) *store {
	st := &store{
		users: map[string]*user{}, byEmail: map[string]*user{},
		keys: map[[32]byte]*apiKey{}, keysByID: map[string]*apiKey{},
		agents: map[string]*agent{}, prov: map[[32]byte]*provKey{}, families: map[string]*family{},
		orgs: map[string]fixtures.Org{}, devices: slices.Clone(d.Devices), workspaces: d.Workspaces, clients: d.Clients,
	}
	now := s.now()
	for _, u := range d.Users {
		x := &user{id: u.ID, email: u.Email, hash: u.PasswordHash, org: u.Org, role: u.Role, projects: map[string]bool{}, limitKey: "u:" + u.ID}
		for _, p := range u.Projects {
			x.projects[p] = true
		}
		st.users[u.ID], st.byEmail[strings.ToLower(u.Email)] = x, x
	}
	for _, o := range d.Orgs {
		st.orgs[o.Slug] = o
	}
	for _, k := range d.Keys {
		u := st.users[k.Owner]
		ak := &apiKey{id: k.ID, name: k.Name, kind: kindUserKey, owner: k.Owner, org: u.org, hash: hashSecret(k.Secret), revoked: k.Revoked, created: now}
		if k.Limit > 0 {
			ak.limit, ak.window = s.cfg.LimitedKeyLimit, s.cfg.LimitedKeyWindow
		}
		s.addKeyLocked(st, ak, k.Secret)
	}
	for _, a := range d.Agents {
		st.agents[a.UUID] = &agent{uuid: a.UUID, name: a.Name, org: a.Org, created: now}
		ak := &apiKey{id: a.KeyID, name: a.Name, kind: kindDeviceKey, agent: a.UUID, org: a.Org, hash: hashSecret(a.APIKey), mqttHash: hashSecret(a.MQTTPassword), revoked: a.Revoked, created: now}
		if a.Limit > 0 {
			ak.limit, ak.window = s.cfg.LimitedKeyLimit, s.cfg.LimitedKeyWindow
		}
		s.addKeyLocked(st, ak, a.APIKey)
	}
	return st
}

// addKeyLocked stores k; the caller holds st.mu (or owns st exclusively).
// secret is used only for the fault-only fields.
func (s *Server) addKeyLocked(st *store, k *apiKey, secret string) {
	if s.faults.on(FaultKeyPrefixMatch) {
		prefix := s.profile.UserKeyPrefix
		if k.kind == kindDeviceKey {
			prefix = s.profile.DeviceKeyPrefix
		}
		k.matchPrefix = matchPrefixOf(secret, prefix)
	}
	k.limitKey = "k:" + k.id
	if k.kind == kindDeviceKey {
		k.limitKey = "d:" + k.id
	}
	st.keys[k.hash] = k
	st.keysByID[k.id] = k
}

// Handler returns the HTTP handler serving the profile.
func (s *Server) Handler() http.Handler { return s.handler }

// Profile returns the profile served.
func (s *Server) Profile() *spec.Profile { return s.profile }

// JWTAlg returns the deployment's JWT algorithm ("HS256" or "RS256").
func (s *Server) JWTAlg() string { return s.keys.alg }

// Target describes this instance for the suites: base URL, fixture
// principals and keys, resources and what the suite may control. The result
// passes spec.Target.Validate for a valid http(s) baseURL.
func (s *Server) Target(baseURL string) *spec.Target {
	d := s.fix
	t := &spec.Target{Profile: s.profile.Name, BaseURL: strings.TrimSuffix(baseURL, "/"), Resources: d.Resources, RevokedKey: d.RevokedKey}
	pr := func(id string) spec.Principal {
		u := d.User(id)
		var p spec.Principal
		if s.profile.Login != nil {
			p.Email, p.Password = u.Email, u.Password
		}
		p.APIKey = d.KeyOf(id)
		return p
	}
	t.Principals = spec.Principals{Admin: pr(fixtures.AdminID), Member: pr(fixtures.MemberID), Outsider: pr(fixtures.OutsiderID)}
	t.RateLimited = spec.RateLimited{APIKey: d.RateLimitedKey, Limit: s.cfg.LimitedKeyLimit, Window: spec.Duration(s.cfg.LimitedKeyWindow)}
	for _, a := range d.Agents {
		if a.Org == fixtures.OrgAcme && !a.Revoked {
			t.Devices = append(t.Devices, spec.Device{UUID: a.UUID, APIKey: a.APIKey, MQTTPassword: a.MQTTPassword})
		}
	}
	if s.profile.Login != nil {
		if s.keys.alg == "HS256" {
			t.Control.JWTSecret = s.keys.secret
		} else {
			t.Control.JWTPrivateKey, t.Control.JWTPublicKey = s.keys.privPEM, s.keys.pubPEM
		}
	}
	if s.profile.Can(spec.CapLicense) {
		t.Control.LicenseToken = s.lic.token
	}
	if s.variants.on(VariantAltKeyPaths) && s.profile.UserKeyPrefix != "" {
		t.KeyAPI = altKeyAPI()
	}
	return t
}

// Running is a Server listening on a real socket.
type Running struct {
	URL    string
	Target *spec.Target
	Server *Server
	srv    *http.Server
	ln     net.Listener // what srv serves: the listener, or a splitListener over it
	done   chan struct{}
}

// Start builds a Server from cfg, listens on addr (e.g. "127.0.0.1:0") and
// serves until ctx is done or Close is called.
func Start(ctx context.Context, cfg Config, addr string) (*Running, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %w", ErrListen, addr, err)
	}
	s, err := New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	r := &Running{URL: url, Target: s.Target(url), Server: s, done: make(chan struct{})}
	maxHeader := MaxHeaderBytes
	if s.variants.on(VariantHeaderLimit16k) {
		maxHeader = headerLimit16kMaxHeaderBytes
	}
	r.srv = &http.Server{
		Handler:           s.Handler(),
		MaxHeaderBytes:    maxHeader,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var served net.Listener = ln
	if s.profile.Resources.Model == modelAgents && !s.faults.on(FaultPanicOnLongHeader) {
		// Broker callback connections get their own loop (callbackconn.go).
		served = newSplitListener(ln, s)
	}
	r.ln = served
	go func() {
		defer close(r.done)
		if err := r.srv.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve failed", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = r.Close()
		case <-r.done:
		}
	}()
	return r, nil
}

// Close shuts the server down gracefully (5 s), then forcibly.
func (r *Running) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if err != nil {
		_ = r.srv.Close()
	}
	<-r.done
	return err
}
