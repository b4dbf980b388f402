package reference

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/authconform/authconform/fixtures"
)

// MaxProvisioningTTL bounds the ttlSeconds of POST /provision/keys.
const MaxProvisioningTTL = 30 * 24 * time.Hour

func (s *Server) iotisticaRoutes(mux *http.ServeMux) {
	p, b := s.profile, s.profile.BasePath
	// The agents family: device keys, the device state and provisioning
	// where the profile document puts them (iotistica's are seed 003's);
	// the agent resources themselves are the family's. Login and refresh
	// are routes()'s, as for every family.
	mux.HandleFunc("GET "+b+"/agents", s.protect(acceptUsers, s.listAgents))
	mux.HandleFunc("GET "+b+"/agents/{uuid}", s.protect(acceptUsers, s.getAgent))
	if st := p.DeviceStatePath("{uuid}"); st != "" {
		mux.HandleFunc("GET "+b+st, s.protect(acceptDevices, s.deviceState))
	}
	if k := p.Keys; k != nil {
		mux.HandleFunc("POST "+b+k.Create, s.protect(acceptUsers, s.createDeviceKey))
		if k.List != "" {
			mux.HandleFunc("GET "+b+k.List, s.protect(acceptUsers, s.listDeviceKeys))
		}
		if k.Delete != "" {
			mux.HandleFunc("DELETE "+b+k.Delete+"/{id}", s.protect(acceptUsers, s.revokeDeviceKey))
		}
	}
	if create, redeem, ok := p.ProvisioningPaths(); ok {
		mux.HandleFunc("POST "+b+create, s.protect(acceptUsers, s.createProvisioningKey))
		mux.HandleFunc("POST "+b+redeem, s.open(s.provisionAgent))
	}
	mux.HandleFunc("GET "+b+"/license", s.protect(acceptUsers, s.licenseInfo))
	mux.HandleFunc("GET "+b+"/export/csv", s.protect(acceptUsers, s.premium("dataExport", func(f fixtures.Features) bool { return f.DataExport }, s.exportCSV)))
	mux.HandleFunc("GET "+b+"/anomaly/rules", s.protect(acceptUsers, s.premium("advancedAnomaly", func(f fixtures.Features) bool { return f.AdvancedAnomaly }, s.anomalyRules)))
	mux.HandleFunc("GET "+b+"/ai/suggestions", s.protect(acceptUsers, s.premium("ai", func(f fixtures.Features) bool { return f.AI }, s.aiSuggestions)))
	user, superuser, acl := s.callbackPaths()
	mux.HandleFunc("POST "+user, s.mqttUser)
	mux.HandleFunc("POST "+superuser, s.mqttSuperuser)
	mux.HandleFunc("POST "+acl, s.mqttACL)
}

// callbackPaths are the broker's callback paths (the mosquitto-go-auth
// HTTP backend, docs/mqtt.md), base path included.
func (s *Server) callbackPaths() (user, superuser, acl string) {
	b := s.profile.BasePath + "/mosquitto-auth/"
	return b + "user", b + "superuser", b + "acl"
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func agentJSON(a agent) map[string]any {
	return map[string]any{"uuid": a.uuid, "name": a.name, "organization": a.org, "createdAt": a.created.UTC().Format(time.RFC3339)}
}

func (s *Server) listAgents(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	var list []agent
	s.st.mu.RLock()
	for _, a := range s.st.agents {
		if a.org == pr.org || s.faults.on(FaultLeakCrossTenant) {
			list = append(list, *a)
		}
	}
	s.st.mu.RUnlock()
	slices.SortFunc(list, func(a, b agent) int { return strings.Compare(a.uuid, b.uuid) })
	out := []map[string]any{}
	for _, a := range list {
		out = append(out, agentJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, pr *principal) error {
	s.st.mu.RLock()
	a, ok := s.st.agents[r.PathValue("uuid")]
	var cp agent
	if ok {
		cp = *a
	}
	s.st.mu.RUnlock()
	if !ok || !s.sameOrg(pr, cp.org) {
		return fail(codeForbidden, "no access to agent")
	}
	writeJSON(w, http.StatusOK, agentJSON(cp))
	return nil
}

func (s *Server) deviceState(w http.ResponseWriter, r *http.Request, pr *principal) error {
	uuid := r.PathValue("uuid")
	if uuid != pr.agent && !s.faults.on(FaultDeviceStateAnyKey) {
		return fail(codeForbidden, "a device may read only its own state")
	}
	s.st.mu.RLock()
	a, ok := s.st.agents[uuid]
	var cp agent
	if ok {
		cp = *a
	}
	s.st.mu.RUnlock()
	if !ok {
		return fail(codeForbidden, "no such agent")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"agentUuid": cp.uuid, "name": cp.name, "version": 1,
		"targetState": map[string]any{"apps": map[string]any{}, "config": map[string]any{"pollIntervalSeconds": 60}},
	})
	return nil
}

// registration is a newly registered agent and its first device key.
type registration struct {
	uuid, name, keyID, apiKey, mqttPassword string
}

// RacyWindow is how long the racy faults leave the door open between
// check and act (a slow database round trip): wide enough that requests
// spread over real connections on a loaded machine still overlap.
const RacyWindow = 20 * time.Millisecond

// relockRacy releases the store lock, yields and takes it again: the
// window in which the racy faults let other requests in.
func (s *Server) relockRacy() {
	s.st.mu.Unlock()
	runtime.Gosched()
	time.Sleep(RacyWindow)
	s.st.mu.Lock()
}

// registerAgent registers a new agent. When provHash is non-nil, it first
// redeems that provisioning key (401 if unknown, used or expired) and the
// agent joins the key's organisation. Everything (redemption, license,
// device count, insertion) happens under one lock, so a key is redeemed at
// most once and the device limit is exact under parallel registrations.
func (s *Server) registerAgent(org, uuid, name string, provHash *[32]byte) (*registration, *apiError) {
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if provHash != nil {
		pk := st.prov[*provHash]
		if pk == nil {
			return nil, fail(codeUnauthorized, "invalid provisioning key")
		}
		if !s.faults.on(FaultProvisioningNeverExpires) && !s.now().Before(pk.expires) {
			delete(st.prov, *provHash)
			return nil, fail(codeUnauthorized, "invalid provisioning key")
		}
		org = pk.org
		if s.faults.on(FaultRacyProvisioning) {
			s.relockRacy() // DELIBERATE DEFECT: check, release, act
		}
	}
	lic, restricted := s.license()
	if restricted {
		return nil, fail(codeForbidden, "license: restricted mode, registrations are disabled")
	}
	n := s.activeAgentsLocked(org)
	over := n >= lic.maxDevices
	if s.faults.on(FaultLicenseLimitOffByOne) {
		over = n > lic.maxDevices // DELIBERATE DEFECT
	}
	if over {
		return nil, fail(codeForbidden, "license: device limit reached")
	}
	if s.faults.on(FaultLicenseLimitRacy) {
		s.relockRacy() // DELIBERATE DEFECT: count, release, insert
	}
	if _, exists := st.agents[uuid]; exists {
		return nil, fail(codeForbidden, "agent already exists")
	}
	if provHash != nil && !s.faults.on(FaultReusableProvisioningKey) {
		delete(st.prov, *provHash)
	}
	now := s.now()
	st.agents[uuid] = &agent{uuid: uuid, name: name, org: org, created: now}
	reg := &registration{uuid: uuid, name: name}
	reg.keyID, reg.apiKey, reg.mqttPassword = s.addDeviceKeyLocked(uuid, org, name, provHash != nil && s.faults.on(FaultProvisionedKeyInactive))
	return reg, nil
}

// activeAgentsLocked counts the agents of org that hold at least one
// non-revoked device key: the number the license's maxDevices limits.
// Revoking an agent's last key frees its seat. The caller holds st.mu.
func (s *Server) activeAgentsLocked(org string) int {
	active := map[string]bool{}
	for _, k := range s.st.keysByID {
		if k.kind == kindDeviceKey && k.org == org && !k.revoked {
			active[k.agent] = true
		}
	}
	return len(active)
}

// addDeviceKeyLocked creates a device key and MQTT password for agent
// uuid; the caller holds st.mu.
func (s *Server) addDeviceKeyLocked(uuid, org, name string, inactive bool) (id, secret, mqttPassword string) {
	secret = s.profile.DeviceKeyPrefix + randomBase62()
	mqttPassword = "mqtt-" + randomBase62()
	k := &apiKey{id: newID("dk_"), name: name, kind: kindDeviceKey, agent: uuid, org: org, hash: hashSecret(secret), mqttHash: hashSecret(mqttPassword), created: s.now(), inactive: inactive}
	if s.faults.on(FaultListLeaksSecret) {
		k.leaked = secret // DELIBERATE DEFECT
	}
	s.addKeyLocked(s.st, k, secret)
	return k.id, secret, mqttPassword
}

func cleanName(n, fallback string) (string, *apiError) {
	if len(n) > 200 {
		return "", fail(codeBadRequest, "name is longer than 200 characters")
	}
	if n == "" {
		return fallback, nil
	}
	return n, nil
}

// createDeviceKey is POST /auth/api-keys {name, agentUuid} (admin JWT): a
// new key for an existing agent of the admin's org, or a new agent (a
// registration, subject to the license) when agentUuid is new or empty.
func (s *Server) createDeviceKey(w http.ResponseWriter, r *http.Request, pr *principal) error {
	if !pr.user.admin() && !s.faults.on(FaultMemberCanCreateDeviceKey) {
		return fail(codeForbidden, "only admins may create device keys")
	}
	var in struct {
		Name      string `json:"name"`
		AgentUUID string `json:"agentUuid"`
	}
	if e := decodeJSON(r, &in, true); e != nil {
		return e
	}
	if in.AgentUUID == "" {
		in.AgentUUID = newUUID()
	} else if !uuidRE.MatchString(in.AgentUUID) {
		return fail(codeBadRequest, "agentUuid must be a UUID")
	}
	in.AgentUUID = strings.ToLower(in.AgentUUID)
	name, e := cleanName(in.Name, "agent-"+in.AgentUUID[:8])
	if e != nil {
		return e
	}
	s.st.mu.Lock()
	a, exists := s.st.agents[in.AgentUUID]
	var reg *registration
	if exists {
		if a.org != pr.org {
			s.st.mu.Unlock()
			return fail(codeForbidden, "no access to agent")
		}
		reg = &registration{uuid: a.uuid, name: name}
		reg.keyID, reg.apiKey, reg.mqttPassword = s.addDeviceKeyLocked(a.uuid, a.org, name, false)
		s.st.mu.Unlock()
	} else {
		s.st.mu.Unlock()
		if reg, e = s.registerAgent(pr.org, in.AgentUUID, name, nil); e != nil {
			return e
		}
	}
	s.log.Info("device key created", "keyID", reg.keyID, "agent", reg.uuid, "by", pr.user.id)
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{"id": reg.keyID, "name": name, "apiKey": reg.apiKey, "agentUuid": reg.uuid, "mqttPassword": reg.mqttPassword})
	return nil
}

func (s *Server) listDeviceKeys(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	if !pr.user.admin() {
		return fail(codeForbidden, "only admins may list device keys")
	}
	type view struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		AgentUUID string `json:"agentUuid"`
		Prefix    string `json:"prefix"`
		CreatedAt string `json:"createdAt"`
		Revoked   bool   `json:"revoked"`
		APIKey    string `json:"apiKey,omitempty"` // only under list-leaks-secret
	}
	out := []view{}
	s.st.mu.RLock()
	for _, k := range s.st.keysByID {
		if k.kind == kindDeviceKey && k.org == pr.org {
			out = append(out, view{k.id, k.name, k.agent, s.profile.DeviceKeyPrefix, k.created.UTC().Format(time.RFC3339), k.revoked, k.leaked})
		}
	}
	s.st.mu.RUnlock()
	slices.SortFunc(out, func(a, b view) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeDeviceKey(w http.ResponseWriter, r *http.Request, pr *principal) error {
	id := r.PathValue("id")
	s.st.mu.Lock()
	k := s.st.keysByID[id]
	if !pr.user.admin() || k == nil || k.kind != kindDeviceKey || k.org != pr.org {
		s.st.mu.Unlock()
		return fail(codeForbidden, "no such device key of your organization")
	}
	k.revoked = true
	s.st.mu.Unlock()
	s.log.Info("device key revoked", "keyID", id, "by", pr.user.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createProvisioningKey is POST /provision/keys (admin JWT), optional body
// {"ttlSeconds": n} (ref-defined, 1..2592000, default 3600).
func (s *Server) createProvisioningKey(w http.ResponseWriter, r *http.Request, pr *principal) error {
	if !pr.user.admin() && !s.faults.on(FaultMemberCanProvision) {
		return fail(codeForbidden, "only admins may create provisioning keys")
	}
	var in struct {
		TTLSeconds *int64 `json:"ttlSeconds"`
	}
	if e := decodeJSON(r, &in, true); e != nil {
		return e
	}
	ttl := DefaultProvisioningTTL
	if in.TTLSeconds != nil {
		if *in.TTLSeconds < 1 || *in.TTLSeconds > int64(MaxProvisioningTTL/time.Second) {
			return fail(codeBadRequest, "ttlSeconds must be between 1 and 2592000")
		}
		ttl = time.Duration(*in.TTLSeconds) * time.Second
	}
	key := s.profile.ProvisioningKeyPrefix + randomBase62()
	exp := s.now().Add(ttl)
	s.st.mu.Lock()
	s.st.prov[hashSecret(key)] = &provKey{org: pr.org, expires: exp}
	s.st.mu.Unlock()
	s.log.Info("provisioning key created", "by", pr.user.id, "ttl", ttl)
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{"key": key, "expiresAt": exp.UTC().Format(time.RFC3339Nano)})
	return nil
}

// provisionAgent is POST /provision/agent {key, agentName}: redeems a
// single-use provisioning key for a new agent and its device key.
func (s *Server) provisionAgent(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Key       string `json:"key"`
		AgentName string `json:"agentName"`
	}
	if e := decodeJSON(r, &in, false); e != nil {
		return e
	}
	if in.Key == "" {
		return fail(codeMissing, "no provisioning key")
	}
	if !strings.HasPrefix(in.Key, s.profile.ProvisioningKeyPrefix) || len(in.Key) > MaxCredentialLen {
		return fail(codeUnauthorized, "invalid provisioning key")
	}
	uuid := newUUID()
	name, e := cleanName(in.AgentName, "agent-"+uuid[:8])
	if e != nil {
		return e
	}
	h := hashSecret(in.Key)
	reg, e := s.registerAgent("", uuid, name, &h)
	if e != nil {
		s.log.Info("provisioning refused", "reason", e.msg)
		return e
	}
	s.log.Info("agent provisioned", "agent", reg.uuid, "keyID", reg.keyID)
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{"apiKey": reg.apiKey, "agentUuid": reg.uuid, "mqttPassword": reg.mqttPassword, "agentName": name})
	return nil
}

// licenseInfo is GET /license (ref-defined): the license mode, limit,
// current device count and features (never the token).
func (s *Server) licenseInfo(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	lic, restricted := s.license()
	s.st.mu.RLock()
	n := s.activeAgentsLocked(pr.org)
	s.st.mu.RUnlock()
	out := map[string]any{"mode": "licensed", "maxDevices": lic.maxDevices, "devices": n, "features": lic.features}
	if restricted {
		out = map[string]any{"mode": "restricted", "reason": lic.reason, "maxDevices": 0, "devices": n, "features": fixtures.Features{}}
	} else if !lic.expires.IsZero() {
		out["expiresAt"] = lic.expires.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// premium guards a premium endpoint: 403 in restricted mode or when the
// license lacks the feature.
func (s *Server) premium(feature string, has func(fixtures.Features) bool, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pr *principal) error {
		lic, restricted := s.license()
		if restricted {
			return fail(codeForbidden, "license: restricted mode, premium features are disabled")
		}
		if !has(lic.features) && !s.faults.on(FaultLicenseFeaturesIgnored) {
			return fail(codeForbidden, "license: feature %s is not licensed", feature)
		}
		return h(w, r, pr)
	}
}

func (s *Server) exportCSV(w http.ResponseWriter, _ *http.Request, pr *principal) error {
	var b strings.Builder
	b.WriteString("uuid,name,organization\n")
	s.st.mu.RLock()
	var rows []string
	for _, a := range s.st.agents {
		if a.org == pr.org {
			rows = append(rows, a.uuid+","+strings.ReplaceAll(a.name, ",", " ")+","+a.org+"\n")
		}
	}
	s.st.mu.RUnlock()
	slices.Sort(rows)
	for _, r := range rows {
		b.WriteString(r)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
	return nil
}

func (s *Server) anomalyRules(w http.ResponseWriter, _ *http.Request, _ *principal) error {
	writeJSON(w, http.StatusOK, []map[string]any{{"id": "rule-1", "name": "temperature and vibration correlation", "metrics": []string{"temperature", "vibration"}}})
	return nil
}

func (s *Server) aiSuggestions(w http.ResponseWriter, _ *http.Request, _ *principal) error {
	writeJSON(w, http.StatusOK, []map[string]any{{"id": "sugg-1", "text": "Add a dashboard for gateway uptime"}})
	return nil
}
