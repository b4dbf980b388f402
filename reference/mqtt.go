package reference

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MQTT ACL access bits of the mosquitto-go-auth HTTP protocol.
const (
	AccRead      = 1 // delivery to a subscriber
	AccWrite     = 2 // publish
	AccSubscribe = 4
)

// mqttRequest is a mosquitto-go-auth HTTP backend request. Bodies come as
// JSON (http_params_mode json) or as a form (http_params_mode form); acc
// may be a number or a string.
type mqttRequest struct {
	Username string
	Password string
	ClientID string
	Topic    string
	Acc      int
}

// parseMQTTBody decodes a callback body: a form when contentType says so
// (as r.PostForm would), JSON otherwise.
func parseMQTTBody(contentType string, b []byte) (mqttRequest, bool) {
	var m mqttRequest
	ct := contentType
	if ct != "application/json" && ct != "application/x-www-form-urlencoded" {
		ct, _, _ = mime.ParseMediaType(contentType)
	}
	if ct == "application/x-www-form-urlencoded" {
		f, err := url.ParseQuery(string(b))
		if err != nil {
			return m, false
		}
		m.Username, m.Password, m.ClientID, m.Topic = f.Get("username"), f.Get("password"), f.Get("clientid"), f.Get("topic")
		if a := f.Get("acc"); a != "" {
			n, err := strconv.Atoi(a)
			if err != nil {
				return m, false
			}
			m.Acc = n
		}
		return m, true
	}
	var raw struct {
		Username string          `json:"username"`
		Password string          `json:"password"`
		ClientID string          `json:"clientid"`
		Topic    string          `json:"topic"`
		Acc      json.RawMessage `json:"acc"`
	}
	if json.Unmarshal(b, &raw) != nil {
		return m, false
	}
	m.Username, m.Password, m.ClientID, m.Topic = raw.Username, raw.Password, raw.ClientID, raw.Topic
	if len(raw.Acc) > 0 {
		a := string(bytes.Trim(raw.Acc, `"`))
		n, err := strconv.Atoi(a)
		if err != nil {
			return m, false
		}
		m.Acc = n
	}
	return m, true
}

var (
	mqttAllow = []byte(`{"ok":true}` + "\n")
	mqttDeny  = []byte(`{"ok":false,"error":"denied"}` + "\n")
)

func mqttAnswer(w http.ResponseWriter, ok bool) {
	w.Header().Set("Content-Type", "application/json")
	if ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(mqttAllow)
		return
	}
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(mqttDeny)
}

// mqttDevice resolves an MQTT username (a device key) to a live key.
func (s *Server) mqttDevice(username string) (apiKey, bool) {
	if username == "" || len(username) > MaxCredentialLen || !strings.HasPrefix(username, s.profile.DeviceKeyPrefix) {
		return apiKey{}, false
	}
	k, ok := s.st.lookupKey(username, s.faults.on(FaultKeyPrefixMatch), s.profile.DeviceKeyPrefix)
	if !ok || k.kind != kindDeviceKey || k.inactive {
		return apiKey{}, false
	}
	if k.revoked && !s.faults.on(FaultRevocationIgnored) && !s.faults.on(FaultMQTTRevocationIgnored) {
		return apiKey{}, false
	}
	return k, true
}

// The broker's three callbacks.
type callback int

const (
	callbackUser      callback = iota // POST /mosquitto-auth/user
	callbackSuperuser                 // POST /mosquitto-auth/superuser
	callbackACL                       // POST /mosquitto-auth/acl
)

func (s *Server) mqttUser(w http.ResponseWriter, r *http.Request) {
	s.mqttCallback(w, r, callbackUser)
}

func (s *Server) mqttSuperuser(w http.ResponseWriter, r *http.Request) {
	s.mqttCallback(w, r, callbackSuperuser)
}

func (s *Server) mqttACL(w http.ResponseWriter, r *http.Request) {
	s.mqttCallback(w, r, callbackACL)
}

func (s *Server) mqttCallback(w http.ResponseWriter, r *http.Request, cb callback) {
	b, err := io.ReadAll(r.Body)
	mqttAnswer(w, err == nil && s.callbackAllows(cb, r.Header.Get("Content-Type"), b))
}

// callbackAllows answers one broker callback (net/http's handlers and the
// broker connections of callbackconn.go alike):
//
//   - user: a live device key as username, its MQTT password and clientid
//     "agent-{uuid}". MQTT passwords are random 256-bit secrets, so they are
//     stored as SHA-256 (no bcrypt on the connect path) and compared in
//     constant time.
//   - superuser: devices are never superusers.
//   - acl: a live device may read, publish and subscribe under
//     agents/{its uuid} and agents/{its uuid}/... only, with its own
//     clientid.
func (s *Server) callbackAllows(cb callback, contentType string, body []byte) bool {
	if cb == callbackSuperuser {
		return false
	}
	m, ok := parseMQTTBody(contentType, body)
	if !ok {
		return false
	}
	if cb == callbackUser {
		return s.userAllowed(m)
	}
	return s.aclAllowed(m)
}

func (s *Server) userAllowed(m mqttRequest) bool {
	if s.faults.on(FaultMQTTRejectValid) {
		return false
	}
	k, ok := s.mqttDevice(m.Username)
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(m.Password))
	pwOK := subtle.ConstantTimeCompare(h[:], k.mqttHash[:]) == 1
	if s.faults.on(FaultMQTTIgnorePassword) {
		pwOK = true // DELIBERATE DEFECT
	}
	if s.faults.on(FaultMQTTWeakConnect) {
		return true // DELIBERATE DEFECT
	}
	return pwOK && len(m.ClientID) == len("agent-")+len(k.agent) && strings.HasPrefix(m.ClientID, "agent-") && strings.HasSuffix(m.ClientID, k.agent)
}

func (s *Server) aclAllowed(m mqttRequest) bool {
	k, ok := s.mqttDevice(m.Username)
	if !ok || m.ClientID != "agent-"+k.agent {
		return false
	}
	if m.Acc != AccRead && m.Acc != AccWrite && m.Acc != AccRead|AccWrite && m.Acc != AccSubscribe {
		return false
	}
	if s.faults.on(FaultMQTTACLOpen) {
		return true // DELIBERATE DEFECT
	}
	own := "agents/" + k.agent
	return m.Topic == own || strings.HasPrefix(m.Topic, own+"/")
}
