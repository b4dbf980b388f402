package reference

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"mime"
	"net/http"
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

func parseMQTT(r *http.Request) (mqttRequest, bool) {
	var m mqttRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return m, false
		}
		f := r.PostForm
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
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return m, false
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

// mqttUser is POST /mosquitto-auth/user: 200 when username is a live device
// key, password its MQTT password and clientid "agent-{uuid}"; else 403.
// MQTT passwords are random 256-bit secrets, so they are stored as SHA-256
// (no bcrypt on the connect path) and compared in constant time.
func (s *Server) mqttUser(w http.ResponseWriter, r *http.Request) {
	m, ok := parseMQTT(r)
	if !ok || s.faults.on(FaultMQTTRejectValid) {
		mqttAnswer(w, false)
		return
	}
	k, ok := s.mqttDevice(m.Username)
	if !ok {
		mqttAnswer(w, false)
		return
	}
	h := sha256.Sum256([]byte(m.Password))
	pwOK := subtle.ConstantTimeCompare(h[:], k.mqttHash[:]) == 1
	if s.faults.on(FaultMQTTIgnorePassword) {
		pwOK = true // DELIBERATE DEFECT
	}
	if s.faults.on(FaultMQTTWeakConnect) {
		mqttAnswer(w, true) // DELIBERATE DEFECT
		return
	}
	mqttAnswer(w, pwOK && m.ClientID == "agent-"+k.agent)
}

// mqttSuperuser is POST /mosquitto-auth/superuser: devices are never
// superusers.
func (s *Server) mqttSuperuser(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	mqttAnswer(w, false)
}

// mqttACL is POST /mosquitto-auth/acl: a live device may read, publish and
// subscribe under agents/{its uuid} and agents/{its uuid}/... only, with
// its own clientid.
func (s *Server) mqttACL(w http.ResponseWriter, r *http.Request) {
	m, ok := parseMQTT(r)
	if !ok {
		mqttAnswer(w, false)
		return
	}
	k, ok := s.mqttDevice(m.Username)
	if !ok || m.ClientID != "agent-"+k.agent {
		mqttAnswer(w, false)
		return
	}
	if m.Acc != AccRead && m.Acc != AccWrite && m.Acc != AccRead|AccWrite && m.Acc != AccSubscribe {
		mqttAnswer(w, false)
		return
	}
	if s.faults.on(FaultMQTTACLOpen) {
		mqttAnswer(w, true) // DELIBERATE DEFECT
		return
	}
	own := "agents/" + k.agent
	mqttAnswer(w, m.Topic == own || strings.HasPrefix(m.Topic, own+"/"))
}
