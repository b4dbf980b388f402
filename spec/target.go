package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Target describes one implementation under test. Users write it for their
// own server (YAML or JSON, see fixtures/targets/); `authconform reference
// --target-out` writes it for the reference. Every secret in it is a test
// credential of a fixture principal: never put production secrets here.
type Target struct {
	// Profile is the dialect the implementation speaks.
	Profile ProfileName `yaml:"profile" json:"profile"`
	// BaseURL is scheme://host[:port] with no path: the profile's base path
	// (e.g. /api/v1) is appended by the suite.
	BaseURL string `yaml:"baseURL" json:"baseURL"`
	// MQTT is the broker that authenticates devices against this target
	// (iotistica); omit it to skip the MQTT checks with a reason.
	MQTT *MQTT `yaml:"mqtt,omitempty" json:"mqtt,omitempty"`

	// Principals are the fixture users the suite acts as.
	Principals Principals `yaml:"principals" json:"principals"`
	// RevokedKey is a user API key (or device key, iotistica) that has been
	// revoked; it must be refused.
	RevokedKey string `yaml:"revokedKey" json:"revokedKey"`
	// RateLimited is a key with a small budget the suite may exhaust.
	RateLimited RateLimited `yaml:"rateLimited" json:"rateLimited"`
	// Devices are provisioned devices (iotistica): at least two, in the
	// admin's organisation, for MQTT and TEN-002.
	Devices []Device `yaml:"devices,omitempty" json:"devices,omitempty"`
	// Resources name the IDs the tenancy checks use.
	Resources Resources `yaml:"resources" json:"resources"`
	// Control tells what the suite may know or change about the deployment.
	Control Control `yaml:"control,omitempty" json:"control,omitempty"`
	// KeyAPI says where key management lives when it is not at the
	// reference's (ref-defined) paths. Without it those paths are tried,
	// and a 404/405 there makes the specs that need them not-applicable.
	KeyAPI *KeyAPI `yaml:"keyAPI,omitempty" json:"keyAPI,omitempty"`
}

// KeyAPI is the implementation's key-management endpoints, each "METHOD
// /path" relative to the profile's base path; revoke's path contains
// "{id}".
type KeyAPI struct {
	// Create: body {"name": "..."}; a 2xx JSON object with "id" and the new
	// key (a string value with the profile's prefix).
	Create Endpoint `yaml:"create" json:"create"`
	// List: 2xx with an array, or an object with one array field, of
	// objects with "id" and no secrets. Optional.
	List Endpoint `yaml:"list,omitempty" json:"list,omitempty"`
	// Revoke: 2xx; the path contains {id}.
	Revoke Endpoint `yaml:"revoke" json:"revoke"`
}

// Endpoint is "METHOD /path" in a target file.
type Endpoint struct {
	Method string
	Path   string
}

// IsZero reports an endpoint that was not given.
func (e Endpoint) IsZero() bool { return e.Method == "" && e.Path == "" }

// String writes "METHOD /path".
func (e Endpoint) String() string {
	if e.IsZero() {
		return ""
	}
	return e.Method + " " + e.Path
}

// MarshalYAML writes "METHOD /path".
func (e Endpoint) MarshalYAML() (any, error) { return e.String(), nil }

// MarshalJSON writes "METHOD /path".
func (e Endpoint) MarshalJSON() ([]byte, error) { return json.Marshal(e.String()) }

// UnmarshalYAML reads "METHOD /path".
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return errors.New(`want "METHOD /path", e.g. "POST /keys"`)
	}
	f := strings.Fields(s)
	if len(f) != 2 || !strings.HasPrefix(f[1], "/") {
		return fmt.Errorf(`%q is not "METHOD /path"; write e.g. "POST /keys" (relative to the profile's base path)`, s)
	}
	switch m := strings.ToUpper(f[0]); m {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
		e.Method, e.Path = m, f[1]
	default:
		return fmt.Errorf("%q: method %q is not GET, POST, PUT, PATCH or DELETE", s, f[0])
	}
	return nil
}

// MQTT is a broker address and how long a revocation may take to bite.
type MQTT struct {
	// Address is tcp://host:port.
	Address string `yaml:"address" json:"address"`
	// CacheDelay is the documented auth-cache delay (0 for the reference).
	CacheDelay Duration `yaml:"cacheDelay,omitempty" json:"cacheDelay,omitempty"`
}

// Principals are the three fixture users.
type Principals struct {
	// Admin administers Resources.Org (all of its projects).
	Admin Principal `yaml:"admin" json:"admin"`
	// Member belongs to Resources.Org but has no access to
	// Resources.RestrictedProject; not an admin.
	Member Principal `yaml:"member" json:"member"`
	// Outsider belongs to Resources.OtherOrg only.
	Outsider Principal `yaml:"outsider" json:"outsider"`
}

// Principal is one user: login credentials (profiles with login) and a
// valid user API key (profiles with user keys).
type Principal struct {
	Email    string `yaml:"email,omitempty" json:"email,omitempty"`
	Password string `yaml:"password,omitempty" json:"password,omitempty"`
	APIKey   string `yaml:"apiKey,omitempty" json:"apiKey,omitempty"`
}

// RateLimited is a key and its budget: Limit requests per Window.
type RateLimited struct {
	APIKey string   `yaml:"apiKey" json:"apiKey"`
	Limit  int      `yaml:"limit" json:"limit"`
	Window Duration `yaml:"window" json:"window"`
	// SharesLimitWith is empty: the key's budget is its own (per key).
}

// Device is a provisioned device (iotistica).
type Device struct {
	UUID         string `yaml:"uuid" json:"uuid"`
	APIKey       string `yaml:"apiKey" json:"apiKey"`
	MQTTPassword string `yaml:"mqttPassword" json:"mqttPassword"`
}

// Resources are the IDs the tenancy and permission checks use. Which ones
// are needed is the profile's resources.fields (see Validate); own and
// other serve a user's profile whose resources are one object per
// organisation.
type Resources struct {
	Org               string `yaml:"org,omitempty" json:"org,omitempty"`                             // roboticks: admin's and member's org slug
	Project           string `yaml:"project,omitempty" json:"project,omitempty"`                     // roboticks: project the member can access
	RestrictedProject string `yaml:"restrictedProject,omitempty" json:"restrictedProject,omitempty"` // roboticks: project in Org the member cannot access
	OtherOrg          string `yaml:"otherOrg,omitempty" json:"otherOrg,omitempty"`                   // roboticks: outsider's org
	Workspace         string `yaml:"workspace,omitempty" json:"workspace,omitempty"`                 // rigbox: a workspace of the admin
	OtherWorkspace    string `yaml:"otherWorkspace,omitempty" json:"otherWorkspace,omitempty"`       // rigbox: a workspace of the outsider
	Client            string `yaml:"client,omitempty" json:"client,omitempty"`                       // requestrocket: a client of the admin
	OtherClient       string `yaml:"otherClient,omitempty" json:"otherClient,omitempty"`             // requestrocket: a client of the outsider
	OtherAgent        string `yaml:"otherAgent,omitempty" json:"otherAgent,omitempty"`               // iotistica: an agent UUID of otherOrg, readable by the outsider
	Own               string `yaml:"own,omitempty" json:"own,omitempty"`                             // a user's profile: an object of the admin
	Other             string `yaml:"other,omitempty" json:"other,omitempty"`                         // a user's profile: an object of the outsider
}

// Get returns the field named by its YAML name (e.g. "otherWorkspace"),
// "" for an unknown name.
func (r Resources) Get(name string) string {
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == name {
			return v.Field(i).String()
		}
	}
	return ""
}

// Set sets the field named by its YAML name; it reports false for an
// unknown name.
func (r *Resources) Set(name, value string) bool {
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == name {
			v.Field(i).SetString(value)
			return true
		}
	}
	return false
}

func resourceFieldNames() []string {
	t := reflect.TypeOf(Resources{})
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		out = append(out, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return out
}

func knownResourceField(name string) bool { return slices.Contains(resourceFieldNames(), name) }

// Control is what the suite may know about or do to the deployment. An
// external target usually leaves it empty; checks that need it are then
// skipped with the reason printed.
type Control struct {
	// JWTSecret is the HS256 secret, when the suite may forge validly
	// signed tokens (expired, without exp, ...).
	JWTSecret string `yaml:"jwtSecret,omitempty" json:"jwtSecret,omitempty"`
	// JWTPrivateKey / JWTPublicKey are the RS256 pair (PEM) of an RS256
	// deployment; the public key alone enables the key-confusion check.
	JWTPrivateKey string `yaml:"jwtPrivateKey,omitempty" json:"jwtPrivateKey,omitempty"`
	JWTPublicKey  string `yaml:"jwtPublicKey,omitempty" json:"jwtPublicKey,omitempty"`
	// LicenseToken is the license JWT the deployment runs with (JWT-009
	// uses it as a bearer token).
	LicenseToken string `yaml:"licenseToken,omitempty" json:"licenseToken,omitempty"`
}

// Duration is a time.Duration written as "2s", "1m30s" in target files.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes "2s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes "2s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalYAML reads "2s" (JSON targets are read through YAML too).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return errors.New("want a duration such as \"2s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as \"2s\"", s)
	}
	*d = Duration(v)
	return nil
}

// FieldError is a problem with one field of a target file or a profile
// file.
type FieldError struct {
	File  string
	Field string // dotted path, e.g. principals.admin.apiKey
	Msg   string // what is wrong and how to fix it
	doc   string // docTarget ("") or docProfile
}

const (
	docTarget  = ""
	docProfile = "profile"
)

func (e *FieldError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
	}
	if e.doc == docProfile {
		return fmt.Sprintf("profile: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("target: %s: %s", e.Field, e.Msg)
}

// Unwrap makes errors.Is(err, ErrTarget) (or ErrProfile) true.
func (e *FieldError) Unwrap() error {
	if e.doc == docProfile {
		return ErrProfile
	}
	return ErrTarget
}

// LoadTarget reads and validates a target file (YAML, or JSON, which YAML
// reads too). Unknown fields are errors naming the field. The returned error
// is a single line.
func LoadTarget(path string) (*Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{File: path, Field: "(file)", Msg: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))}
	}
	t, err := ParseTarget(b)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = path
		}
		return nil, err
	}
	return t, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParseTarget decodes and validates target file contents.
func ParseTarget(b []byte) (*Target, error) {
	d := strictDecoder{doc: docTarget, guide: "fixtures/targets/README.md", example: "fixtures/targets/example.yaml"}
	var t Target
	if err := d.decodeDocument(b, &t); err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// OneLine folds every run of white space in s (newlines included) into
// one space: for error messages that must stay on one line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func oneLineErr(err error) string { return OneLine(err.Error()) }

// strictDecoder decodes a YAML document field by field: unknown fields and
// type errors are FieldErrors naming the dotted path of the field.
type strictDecoder struct {
	doc     string // docTarget or docProfile
	guide   string // where the fields are documented
	example string // a file to start from ("" for none)
}

func (d strictDecoder) decodeDocument(b []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		msg := strings.TrimPrefix(oneLineErr(err), "yaml: ")
		return &FieldError{doc: d.doc, Field: "(document)", Msg: "not valid YAML or JSON: " + msg}
	}
	if len(root.Content) == 0 {
		msg := "empty file"
		if d.example != "" {
			msg += "; start from " + d.example
		} else {
			msg += "; see " + d.guide
		}
		return &FieldError{doc: d.doc, Field: "(document)", Msg: msg}
	}
	return d.decode(root.Content[0], reflect.ValueOf(v).Elem(), "")
}

// decodeStrict decodes n into v field by field so that every error names
// the dotted path of the offending field (principals.admin.apiKey,
// devices[1].uuid). Written by hand because yaml.v3 reports type errors by
// line only, which cannot tell apart two keys of one flow mapping.
func (d strictDecoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	name := path
	if name == "" {
		name = "(document)"
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if nv, ok := v.Addr().Interface().(*yaml.Node); ok {
		*nv = *n
		return nil
	}
	if sd, ok := v.Addr().Interface().(strictDecodable); ok {
		return sd.decodeStrict(d, n, path)
	}
	if _, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return &FieldError{doc: d.doc, Field: name, Msg: oneLineErr(err)}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return nil
		}
		v.Set(reflect.New(v.Type().Elem()))
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &FieldError{doc: d.doc, Field: name, Msg: "want a mapping of fields; see " + d.guide}
		}
		fields := map[string]int{}
		for i := 0; i < v.NumField(); i++ {
			tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
			if tag != "" && tag != "-" {
				fields[tag] = i
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := key
			if path != "" {
				p = path + "." + key
			}
			fi, ok := fields[key]
			if !ok {
				return &FieldError{doc: d.doc, Field: p, Msg: "unknown field; check its spelling against " + d.guide}
			}
			if err := d.decode(n.Content[i+1], v.Field(fi), p); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return &FieldError{doc: d.doc, Field: name, Msg: "want a list"}
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	default:
		if n.Kind != yaml.ScalarNode {
			return &FieldError{doc: d.doc, Field: name, Msg: fmt.Sprintf("want a %s value, not a list or mapping", v.Kind())}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return &FieldError{doc: d.doc, Field: name, Msg: fmt.Sprintf("%q is not a valid %s", n.Value, v.Kind())}
		}
		return nil
	}
}

// Validate checks that every field the profile needs is present and well
// formed. The error names the first bad field and how to fix it.
func (t *Target) Validate() error {
	bad := func(field, msg string) error { return &FieldError{Field: field, Msg: msg} }
	if t.Profile == "" {
		return bad("profile", "missing; set it to one of "+strings.Join(Names(), ", "))
	}
	p, err := Get(t.Profile)
	if err != nil {
		return bad("profile", fmt.Sprintf("unknown profile %q; set it to one of %s", t.Profile, strings.Join(Names(), ", ")))
	}
	if t.BaseURL == "" {
		return bad("baseURL", "missing; set it to the server's scheme://host:port, e.g. http://127.0.0.1:8080")
	}
	u, err := url.Parse(t.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("baseURL", fmt.Sprintf("%q is not an http(s) URL; write it as http://host:port", t.BaseURL))
	}
	if u.Path != "" && u.Path != "/" {
		return bad("baseURL", fmt.Sprintf("has a path %q; give only scheme://host:port, the profile adds %s", u.Path, p.BasePath))
	}
	t.BaseURL = strings.TrimSuffix(t.BaseURL, "/")
	if t.MQTT != nil {
		mu, err := url.Parse(t.MQTT.Address)
		if t.MQTT.Address == "" || err != nil || (mu.Scheme != "tcp" && mu.Scheme != "mqtt") || mu.Port() == "" {
			return bad("mqtt.address", "want tcp://host:port of the broker, or remove the mqtt section")
		}
	}
	for _, pr := range []struct {
		name string
		p    Principal
	}{{"admin", t.Principals.Admin}, {"member", t.Principals.Member}, {"outsider", t.Principals.Outsider}} {
		base := "principals." + pr.name
		if p.Login != nil {
			if pr.p.Email == "" {
				return bad(base+".email", "missing; the "+string(p.Name)+" profile logs in with email and password")
			}
			if pr.p.Password == "" {
				return bad(base+".password", "missing; give the fixture user's password")
			}
		}
		if p.UserKeyPrefix != "" {
			if pr.p.APIKey == "" {
				return bad(base+".apiKey", "missing; give a valid API key of this user")
			}
			if !strings.HasPrefix(pr.p.APIKey, p.UserKeyPrefix) {
				return bad(base+".apiKey", fmt.Sprintf("does not start with %q; give a key of the %s profile", p.UserKeyPrefix, p.Name))
			}
		}
	}
	if t.RevokedKey == "" {
		return bad("revokedKey", "missing; revoke one key of the member and give it here")
	}
	keyPrefix := p.KeyPrefix()
	if !strings.HasPrefix(t.RevokedKey, keyPrefix) {
		return bad("revokedKey", fmt.Sprintf("does not start with %q", keyPrefix))
	}
	rl := t.RateLimited
	if rl.APIKey == "" {
		return bad("rateLimited.apiKey", "missing; give a key with a small limit the suite may exhaust")
	}
	if !strings.HasPrefix(rl.APIKey, keyPrefix) {
		return bad("rateLimited.apiKey", fmt.Sprintf("does not start with %q", keyPrefix))
	}
	if rl.Limit < 1 || rl.Limit > 10000 {
		return bad("rateLimited.limit", fmt.Sprintf("%d is out of range; want 1..10000 requests per window", rl.Limit))
	}
	if rl.Window.D() < time.Second || rl.Window.D() > 10*time.Minute {
		return bad("rateLimited.window", fmt.Sprintf("%s is out of range; want 1s..10m", rl.Window))
	}
	for _, f := range p.Resources.Fields {
		if t.Resources.Get(f.Name) == "" {
			return bad("resources."+f.Name, "missing; give "+f.Help)
		}
	}
	if p.Can(CapDeviceKeys) {
		if len(t.Devices) < 2 {
			return bad("devices", fmt.Sprintf("has %d entries; give at least two provisioned devices of the admin's org", len(t.Devices)))
		}
		for i, d := range t.Devices {
			f := fmt.Sprintf("devices[%d]", i)
			if d.UUID == "" {
				return bad(f+".uuid", "missing")
			}
			if !strings.HasPrefix(d.APIKey, p.DeviceKeyPrefix) {
				return bad(f+".apiKey", fmt.Sprintf("missing or not starting with %q", p.DeviceKeyPrefix))
			}
			if d.MQTTPassword == "" {
				return bad(f+".mqttPassword", "missing; give the device's MQTT password from provisioning")
			}
		}
	}
	if k := t.KeyAPI; k != nil {
		if k.Create.IsZero() {
			return bad("keyAPI.create", `missing; give "POST /path" of key creation, or remove keyAPI`)
		}
		if k.Revoke.IsZero() {
			return bad("keyAPI.revoke", `missing; give e.g. "DELETE /keys/{id}", or remove keyAPI`)
		}
		if !strings.Contains(k.Revoke.Path, "{id}") {
			return bad("keyAPI.revoke", fmt.Sprintf("%q has no {id}; write e.g. \"DELETE /keys/{id}\"", k.Revoke))
		}
	}
	return nil
}

// WriteFile writes the target as JSON when path ends in .json, else YAML.
func (t *Target) WriteFile(path string) error {
	var b []byte
	var err error
	if strings.HasSuffix(path, ".json") {
		b, err = json.MarshalIndent(t, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(t)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Secrets lists every secret in the target, for masking in reports and logs.
func (t *Target) Secrets() []string {
	var out []string
	add := func(s ...string) {
		for _, x := range s {
			if x != "" {
				out = append(out, x)
			}
		}
	}
	for _, p := range []Principal{t.Principals.Admin, t.Principals.Member, t.Principals.Outsider} {
		add(p.Password, p.APIKey)
	}
	add(t.RevokedKey, t.RateLimited.APIKey, t.Control.JWTSecret, t.Control.JWTPrivateKey, t.Control.LicenseToken)
	for _, d := range t.Devices {
		add(d.APIKey, d.MQTTPassword)
	}
	return out
}

// Mask replaces every occurrence of a secret in s with its first 6
// characters and "…(masked)". Use it on everything a report shows.
func Mask(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		keep := 6
		if keep > len(sec)/3 {
			keep = len(sec) / 3
		}
		s = strings.ReplaceAll(s, sec, sec[:keep]+"…(masked)")
	}
	return s
}
