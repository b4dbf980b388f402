package reference

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// maxHeaderValueForFault is the header length at which the
// panic-on-long-header fault panics.
const maxHeaderValueForFault = 8 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	b := s.profile.BasePath
	// Login and refresh as the profile document describes them; the
	// resources by the reference's resource family (resources.model).
	if l := s.profile.Login; l != nil {
		mux.HandleFunc("POST "+b+l.Path, s.open(s.login))
		switch {
		case l.RefreshPath == "":
		case l.RefreshStyle == spec.RefreshBodyToken:
			mux.HandleFunc("POST "+b+l.RefreshPath, s.open(s.refreshBody))
		default:
			mux.HandleFunc("POST "+b+l.RefreshPath, s.open(s.refreshBearer))
		}
	}
	for _, pp := range s.profile.PublicPaths {
		h := s.publicHandler(pp)
		if s.faults.on(FaultPublicNeedsAuth) {
			mux.HandleFunc("GET "+b+pp, s.protect(acceptUsers, func(w http.ResponseWriter, r *http.Request, _ *principal) error { return h(w, r) }))
		} else {
			mux.HandleFunc("GET "+b+pp, s.open(h))
		}
	}
	switch s.profile.Resources.Model {
	case modelOrgProjects:
		mux.HandleFunc("GET "+b+"/organizations/{org}/devices", s.protect(acceptUsers, s.orgDevices))
		mux.HandleFunc("GET "+b+"/organizations/{org}/projects/{project}/devices", s.protect(acceptUsers, s.projectDevices))
		s.keyRoutes(mux)
	case modelWorkspaces:
		mux.HandleFunc("GET "+b+"/workspaces", s.protect(acceptUsers, s.listWorkspaces))
		mux.HandleFunc("GET "+b+"/workspaces/{id}", s.protect(acceptUsers, s.getWorkspace))
		s.keyRoutes(mux)
	case modelClients:
		mux.HandleFunc("GET "+b+"/clients", s.protect(acceptUsers, s.listClients))
		mux.HandleFunc("GET "+b+"/clients/{id}", s.protect(acceptUsers, s.getClient))
		s.keyRoutes(mux)
	case modelAgents:
		s.iotisticaRoutes(mux)
	}
	mux.HandleFunc("/", s.open(func(http.ResponseWriter, *http.Request) error { return fail(codeNotFound, "Not Found") }))
	return s.middleware(mux)
}

func (s *Server) keyRoutes(mux *http.ServeMux) {
	k, b := s.profile.Keys, s.profile.BasePath
	if s.variants.on(VariantAltKeyPaths) {
		// Conformant variant: key management elsewhere (declared in the
		// target file's keyAPI, see altKeyAPI); the reference's paths
		// answer 404.
		mux.HandleFunc("POST "+b+"/keys", s.protect(acceptUsers, s.createKey))
		mux.HandleFunc("GET "+b+"/keys", s.protect(acceptUsers, s.listKeys))
		mux.HandleFunc("DELETE "+b+"/keys/{id}", s.protect(acceptUsers, s.deleteKey))
		return
	}
	mux.HandleFunc("POST "+b+k.Create, s.protect(acceptUsers, s.createKey))
	if k.List != "" {
		mux.HandleFunc("GET "+b+k.List, s.protect(acceptUsers, s.listKeys))
	}
	mux.HandleFunc("DELETE "+b+k.Delete+"/{id}", s.protect(acceptUsers, s.deleteKey))
}

// altKeyAPI is the keyAPI block of the alt-key-paths variant's target.
func altKeyAPI() *spec.KeyAPI {
	return &spec.KeyAPI{
		Create: spec.Endpoint{Method: http.MethodPost, Path: "/keys"},
		List:   spec.Endpoint{Method: http.MethodGet, Path: "/keys"},
		Revoke: spec.Endpoint{Method: http.MethodDelete, Path: "/keys/{id}"},
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// middleware: body limit, recover (answers 500 and logs, never crashes),
// request log at debug level (method, path without query, status).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic recovered", "method", r.Method, "path", r.URL.Path)
				if sw.status == 0 {
					s.writeError(sw, fail(codeInternal, "internal error"), 0)
				}
			}
			// Enabled first: the arguments allocate even when debug is off.
			// (Logger.Debug checks with context.Background() too.)
			if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
			}
		}()
		if s.faults.on(FaultPanicOnLongHeader) {
			for _, vs := range r.Header {
				for _, v := range vs {
					if len(v) > maxHeaderValueForFault {
						panic("header value too long") // DELIBERATE DEFECT
					}
				}
			}
		}
		// http.NoBody (what the server gives a request without a body)
		// always reads EOF: no limit to enforce.
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(sw, r)
	})
}

// decodeJSON reads a JSON object into v. An empty body leaves v alone when
// optional is true.
func decodeJSON(r *http.Request, v any, optional bool) *apiError {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(codeTooLarge, "request body too large")
		}
		return fail(codeBadRequest, "cannot read request body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		if optional {
			return nil
		}
		return fail(codeBadRequest, "request body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fail(codeBadRequest, "request body must be a JSON object with the documented fields")
	}
	return nil
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// ---- login and refresh ----

// maxPasswordLen bounds a login password before hashing.
const maxPasswordLen = 1024

func (s *Server) checkPassword(email, password string) (user, *apiError) {
	bad := fail(codeUnauthorized, "invalid email or password")
	if len(email) > 320 || len(password) > maxPasswordLen {
		_ = bcrypt.CompareHashAndPassword([]byte(fixtures.DummyPasswordHash), []byte("x"))
		return user{}, bad
	}
	s.st.mu.RLock()
	u, ok := s.st.byEmail[strings.ToLower(email)]
	var cp user
	if ok {
		cp = *u
	}
	s.st.mu.RUnlock()
	if !ok {
		if s.faults.on(FaultLoginUserOracle) {
			return user{}, fail(codeNotFound, "user not found") // DELIBERATE DEFECT
		}
		// Same cost as a wrong password: compare against a dummy hash.
		_ = bcrypt.CompareHashAndPassword([]byte(fixtures.DummyPasswordHash), []byte(password))
		return user{}, bad
	}
	if bcrypt.CompareHashAndPassword([]byte(cp.hash), []byte(password)) != nil {
		return user{}, bad
	}
	return cp, nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if e := decodeJSON(r, &in, false); e != nil {
		return e
	}
	u, e := s.checkPassword(in.Email, in.Password)
	if e != nil {
		s.log.Info("login failed", "path", r.URL.Path)
		return e
	}
	s.log.Info("login", "user", u.id)
	return s.writeTokens(w, u.id, "")
}

// writeTokens issues the profile's login/refresh response for user id.
// fam is the refresh family (iotistica); "" starts a new one.
func (s *Server) writeTokens(w http.ResponseWriter, userID, fam string) error {
	lt := s.accessLifetime()
	access, err := s.issue(userID, useAccess, "", "", lt)
	if err != nil {
		return fail(codeInternal, "cannot sign token")
	}
	l := s.profile.Login
	out := map[string]any{l.AccessField: access, l.ExpiresField: int(AccessTokenLifetime / time.Second)}
	if l.TokenType != "" {
		out["token_type"] = l.TokenType
	}
	if l.RefreshField != "" {
		jti := newID("rt_")
		s.st.mu.Lock()
		if fam == "" {
			fam = newID("fam_")
			s.st.families[fam] = &family{user: userID}
		}
		s.st.families[fam].current = jti
		s.st.mu.Unlock()
		rt, err := s.issue(userID, useRefresh, fam, jti, RefreshTokenLifetime)
		if err != nil {
			return fail(codeInternal, "cannot sign token")
		}
		out[l.RefreshField] = rt
	}
	noStore(w)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// refreshBearer is roboticks' refresh: the current, unexpired access token
// as Authorization: Bearer yields a new one.
func (s *Server) refreshBearer(w http.ResponseWriter, r *http.Request) error {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return fail(codeMissing, "no credential")
	}
	tok, ok := bearer(vals[0])
	if (len(vals) > 1 && !s.variants.on(VariantFirstHeaderWins)) || !ok {
		return fail(codeUnauthorized, "invalid credential")
	}
	if s.faults.on(FaultRefreshAcceptsAccessToken) && strings.HasPrefix(tok, s.profile.UserKeyPrefix) {
		if pr := s.userKeyPrincipal(tok); pr != nil {
			return s.writeTokens(w, pr.user.id, "") // DELIBERATE DEFECT: an API key mints a JWT
		}
	}
	// DELIBERATE DEFECT under refresh-expired-token: expiry is not enforced.
	c, err := s.verify(tok, useAccess, Leeway, false, s.faults.on(FaultRefreshExpiredToken))
	if err != nil {
		return fail(codeUnauthorized, "invalid or expired token")
	}
	if _, ok := s.st.user(c.Subject); !ok {
		return fail(codeUnauthorized, "invalid token")
	}
	return s.writeTokens(w, c.Subject, "")
}

// refreshBody is iotistica's refresh: POST {refreshToken} yields a new
// pair; the presented token is rotated out, and presenting a rotated token
// again revokes its whole family. The check and the rotation happen under
// one lock, so of parallel refreshes with one token at most one succeeds.
func (s *Server) refreshBody(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		RefreshToken string `json:"refreshToken"`
	}
	if e := decodeJSON(r, &in, false); e != nil {
		return e
	}
	if in.RefreshToken == "" {
		return fail(codeMissing, "no refresh token")
	}
	bad := fail(codeUnauthorized, "invalid refresh token")
	c, err := s.verify(in.RefreshToken, useRefresh, Leeway, false, false)
	if err != nil && s.faults.on(FaultRefreshAcceptsAccessToken) {
		c, err = s.verify(in.RefreshToken, useAccess, Leeway, false, false) // DELIBERATE DEFECT
		if err == nil {
			return s.writeTokens(w, c.Subject, "")
		}
	}
	if err != nil {
		return bad
	}
	newJTI := newID("rt_")
	s.st.mu.Lock()
	f := s.st.families[c.Family]
	switch {
	case f == nil || f.revoked || f.user != c.Subject:
		s.st.mu.Unlock()
		return bad
	case f.current != c.ID:
		f.revoked = true
		s.st.mu.Unlock()
		s.log.Warn("refresh token reuse: family revoked", "user", c.Subject)
		return bad
	}
	f.current = newJTI
	s.st.mu.Unlock()
	access, err := s.issue(c.Subject, useAccess, "", "", s.accessLifetime())
	if err != nil {
		return fail(codeInternal, "cannot sign token")
	}
	rt, err := s.issue(c.Subject, useRefresh, c.Family, newJTI, RefreshTokenLifetime)
	if err != nil {
		return fail(codeInternal, "cannot sign token")
	}
	l := s.profile.Login
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{l.AccessField: access, l.RefreshField: rt, l.ExpiresField: int(AccessTokenLifetime / time.Second)})
	return nil
}

// ---- user API keys (roboticks, rigbox, requestrocket) ----

type keyView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	CreatedAt string `json:"createdAt"`
	Revoked   bool   `json:"revoked"`
	Key       string `json:"key,omitempty"` // only under the list-leaks-secret fault
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, pr *principal) error {
	var in struct {
		Name string `json:"name"`
	}
	if e := decodeJSON(r, &in, true); e != nil {
		return e
	}
	if len(in.Name) > 200 {
		return fail(codeBadRequest, "name is longer than 200 characters")
	}
	if in.Name == "" {
		in.Name = "api-key"
	}
	secret := s.profile.UserKeyPrefix + randomBase62()
	now := s.now().UTC()
	k := &apiKey{id: newID("key_"), name: in.Name, kind: kindUserKey, owner: pr.user.id, org: pr.user.org, hash: hashSecret(secret), created: now}
	if s.faults.on(FaultListLeaksSecret) {
		k.leaked = secret // DELIBERATE DEFECT
	}
	s.st.mu.Lock()
	s.addKeyLocked(s.st, k, secret)
	s.st.mu.Unlock()
	s.log.Info("api key created", "keyID", k.id, "user", pr.user.id)
	ke := s.profile.Keys
	out := map[string]any{ke.IDJSON: k.id, ke.SecretJSON: secret, "name": k.name, "prefix": s.profile.UserKeyPrefix, "createdAt": now.Format(time.RFC3339)}
	noStore(w)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	out := []keyView{}
	s.st.mu.RLock()
	for _, k := range s.st.keysByID {
		if k.kind == kindUserKey && k.owner == pr.user.id {
			out = append(out, keyView{ID: k.id, Name: k.name, Prefix: s.profile.UserKeyPrefix, CreatedAt: k.created.UTC().Format(time.RFC3339), Revoked: k.revoked, Key: k.leaked})
		}
	}
	s.st.mu.RUnlock()
	slices.SortFunc(out, func(a, b keyView) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteKey revokes a key of the caller, or (org admins) any key of the
// caller's organisation. Unknown and foreign IDs get the same 403.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request, pr *principal) error {
	id := r.PathValue("id")
	s.st.mu.Lock()
	k := s.st.keysByID[id]
	if k == nil || k.kind != kindUserKey || !(k.owner == pr.user.id || (pr.user.admin() && k.org == pr.user.org)) {
		s.st.mu.Unlock()
		return fail(codeForbidden, "no such key of yours")
	}
	k.revoked = true
	s.st.mu.Unlock()
	s.log.Info("api key revoked", "keyID", id, "by", pr.user.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- tenancy helpers ----

// sameOrg is the organisation boundary (TEN-001); unknown orgs fail it.
func (s *Server) sameOrg(pr *principal, org string) bool {
	if _, ok := s.st.orgs[org]; !ok {
		return false
	}
	return pr.org == org || s.faults.on(FaultLeakCrossTenant)
}

// within decides access to a resource of org that lists extra users
// besides the org admin (projects, workspaces, clients).
func (s *Server) within(pr *principal, org string, allowed bool) bool {
	if !s.sameOrg(pr, org) {
		return false
	}
	if pr.org != org { // only reachable under leak-cross-tenant
		return true
	}
	if pr.user.admin() {
		return true
	}
	if allowed {
		if pr.via == viaUserKey && s.faults.on(FaultKeyScopeMismatch) {
			return false // DELIBERATE DEFECT
		}
		return true
	}
	return s.faults.on(FaultIgnoreProjectACL)
}

// ---- roboticks ----

func (s *Server) projectVisible(pr *principal, org, project string) bool {
	o, ok := s.st.orgs[org]
	if !ok || !slices.Contains(o.Projects, project) {
		return false
	}
	return s.within(pr, org, pr.user.projects[project])
}

func (s *Server) orgDevices(w http.ResponseWriter, r *http.Request, pr *principal) error {
	org := r.PathValue("org")
	if !s.sameOrg(pr, org) {
		return fail(codeForbidden, "no access to organization")
	}
	// projectVisible depends only on (pr, org, project): decide it once per
	// run of devices of the same project.
	var sel deviceSet
	var last string
	var known, visible bool
	for i := range s.st.devices {
		d := &s.st.devices[i]
		if d.Org != org {
			continue
		}
		if !known || d.Project != last {
			last, known, visible = d.Project, true, s.projectVisible(pr, org, d.Project)
		}
		if visible {
			sel.add(i)
		}
	}
	s.writeDevices(w, &sel)
	return nil
}

func (s *Server) projectDevices(w http.ResponseWriter, r *http.Request, pr *principal) error {
	org, project := r.PathValue("org"), r.PathValue("project")
	if !s.projectVisible(pr, org, project) {
		return fail(codeForbidden, "no access to project")
	}
	var sel deviceSet
	for i := range s.st.devices {
		d := &s.st.devices[i]
		if d.Org == org && d.Project == project {
			sel.add(i)
		}
	}
	s.writeDevices(w, &sel)
	return nil
}

// ---- rigbox ----

func (s *Server) workspaceVisible(pr *principal, ws fixtures.Workspace) bool {
	return s.within(pr, ws.Org, slices.Contains(ws.Users, pr.user.id))
}

func workspaceJSON(ws fixtures.Workspace) map[string]any {
	return map[string]any{"id": ws.ID, "name": ws.Name, "template": ws.Template, "status": "running"}
}

func (s *Server) listWorkspaces(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	out := []map[string]any{}
	for _, ws := range s.st.workspaces {
		if ws.Org == pr.org && s.workspaceVisible(pr, ws) {
			out = append(out, workspaceJSON(ws))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"workspaces": out})
	return nil
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request, pr *principal) error {
	id := r.PathValue("id")
	for _, ws := range s.st.workspaces {
		if ws.ID == id && s.workspaceVisible(pr, ws) {
			writeJSON(w, http.StatusOK, workspaceJSON(ws))
			return nil
		}
	}
	return fail(codeForbidden, "no access to workspace")
}

// The reference's resource families (a profile document's resources.model).
const (
	modelOrgProjects = "org-projects"
	modelWorkspaces  = "workspaces"
	modelClients     = "clients"
	modelAgents      = "agents"
)

// publicHandler serves a public path: rigbox's capacity and templates,
// and a small JSON document for any other public path of a profile.
func (s *Server) publicHandler(path string) func(http.ResponseWriter, *http.Request) error {
	switch path {
	case "/capacity":
		return s.capacity
	case "/templates":
		return s.templates
	}
	return func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "path": path})
		return nil
	}
}

func (s *Server) capacity(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "available", "regions": []map[string]any{
		{"name": "eu-central", "available": true, "freeSlots": 42},
		{"name": "us-east", "available": true, "freeSlots": 17},
	}})
	return nil
}

func (s *Server) templates(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"templates": []map[string]any{
		{"id": "python-3.12", "name": "Python 3.12"},
		{"id": "node-22", "name": "Node.js 22"},
		{"id": "go-1.26", "name": "Go 1.26"},
	}})
	return nil
}

// ---- requestrocket ----

func (s *Server) clientVisible(pr *principal, c fixtures.Client) bool {
	return s.within(pr, c.Org, slices.Contains(c.Users, pr.user.id))
}

func (s *Server) listClients(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	out := []map[string]any{}
	for _, c := range s.st.clients {
		if c.Org == pr.org && s.clientVisible(pr, c) {
			out = append(out, map[string]any{"clientId": c.ID, "clientName": c.Name})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out, "message": "Success"})
	return nil
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request, pr *principal) error {
	id := r.PathValue("id")
	for _, c := range s.st.clients {
		if c.ID == id && s.clientVisible(pr, c) {
			writeJSON(w, http.StatusOK, map[string]any{"client": map[string]any{"clientId": c.ID, "clientName": c.Name}, "message": "Success"})
			return nil
		}
	}
	return fail(codeForbidden, "no access to client")
}
