package spec

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The built-in profiles, one document each.
//
//go:embed profiles/*.yaml
var builtinProfiles embed.FS

// profileGuide is where a profile file's fields are documented.
const profileGuide = "docs/PROFILES.md"

var (
	registryMu sync.RWMutex
	registry   = map[ProfileName]*Profile{}
)

func init() {
	for _, n := range AllProfiles {
		b, err := builtinProfiles.ReadFile("profiles/" + string(n) + ".yaml")
		if err != nil {
			panic(err) // the embedded files are checked by spec's tests
		}
		p, err := ParseProfile(b)
		if err != nil {
			panic(fmt.Sprintf("spec/profiles/%s.yaml: %v", n, err))
		}
		if p.Name != n {
			panic(fmt.Sprintf("spec/profiles/%s.yaml: name is %q", n, p.Name))
		}
		registry[n] = p
	}
}

// Get returns the profile named n: a built-in one or one registered from
// a profile file.
func Get(n ProfileName) (*Profile, error) {
	registryMu.RLock()
	p, ok := registry[n]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (want one of %v)", ErrUnknownProfile, n, Names())
	}
	return p, nil
}

// MustGet is Get for names known at compile time; it panics on an unknown name.
func MustGet(n ProfileName) *Profile {
	p, err := Get(n)
	if err != nil {
		panic(err)
	}
	return p
}

// ParseProfiles turns "all" or a comma-free profile name into a list.
// "all" is the built-in profiles.
func ParseProfiles(s string) ([]ProfileName, error) {
	if s == "all" {
		return append([]ProfileName(nil), AllProfiles...), nil
	}
	if _, err := Get(ProfileName(s)); err != nil {
		return nil, err
	}
	return []ProfileName{ProfileName(s)}, nil
}

// Names returns the registered profile names sorted, for messages.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, string(n))
	}
	sort.Strings(out)
	return out
}

// Register adds a user's profile (from LoadProfile) to the registry so
// that Get, the catalogue and the target file know it. Registering a
// built-in name, or another profile under a name already registered, is
// an error; registering the same profile twice is not.
func Register(p *Profile) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	if old, ok := registry[p.Name]; ok {
		if old == p {
			return nil
		}
		if slices.Contains(AllProfiles, p.Name) {
			return &FieldError{doc: docProfile, Field: "name", Msg: fmt.Sprintf("%q is a built-in profile; give your profile a name of its own", p.Name)}
		}
		if reflect.DeepEqual(old, p) {
			return nil
		}
		return &FieldError{doc: docProfile, Field: "name", Msg: fmt.Sprintf("another profile named %q is already loaded; give this one a name of its own", p.Name)}
	}
	registry[p.Name] = p
	return nil
}

// LoadProfile reads, validates and registers a profile file. The returned
// error is a single line naming the file, the field and the fix.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{doc: docProfile, File: path, Field: "(file)", Msg: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))}
	}
	p, err := ParseProfile(b)
	if err == nil {
		err = Register(p)
	}
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = path
		}
		return nil, err
	}
	return p, nil
}

// ParseProfile decodes and validates a profile document (YAML or JSON).
// Unknown fields are errors naming the field.
func ParseProfile(b []byte) (*Profile, error) {
	d := strictDecoder{doc: docProfile, guide: profileGuide}
	var p Profile
	if err := d.decodeDocument(b, &p); err != nil {
		return nil, err
	}
	p.applyDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

var (
	profileNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	jsonFieldPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	placeholder        = regexp.MustCompile(`\{([^}]*)\}`)
	resourceModels     = []string{"org-projects", "workspaces", "clients", "agents"}
)

// Validate checks a profile document; the error names the first bad field
// and how to fix it.
func (p *Profile) Validate() error {
	bad := func(field, msg string) error { return &FieldError{doc: docProfile, Field: field, Msg: msg} }
	relPath := func(field, v string, required bool) error {
		switch {
		case v == "" && required:
			return bad(field, "missing; give a path relative to basePath, e.g. /items")
		case v != "" && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, " ?#")):
			return bad(field, fmt.Sprintf("%q is not a path; write it as /segment/..., without query or spaces", v))
		}
		return nil
	}
	jsonField := func(field, v string, required bool) error {
		if v == "" && !required {
			return nil
		}
		if !jsonFieldPattern.MatchString(v) {
			return bad(field, fmt.Sprintf("%q is not a JSON field name; write e.g. access_token", v))
		}
		return nil
	}
	switch {
	case p.Name == "":
		return bad("name", "missing; give the profile a short lower-case name, e.g. acme")
	case !profileNamePattern.MatchString(string(p.Name)) || p.Name == "all":
		return bad("name", fmt.Sprintf("%q is not a profile name; use 1-32 lower-case letters, digits and '-', starting with a letter (not \"all\")", p.Name))
	case p.BasePath != "" && (!strings.HasPrefix(p.BasePath, "/") || strings.HasSuffix(p.BasePath, "/")):
		return bad("basePath", fmt.Sprintf("%q must start with / and not end with /, e.g. /api/v1 (or leave it empty)", p.BasePath))
	case len(p.Transports) == 0:
		return bad("transports", "missing; list how a user credential travels, e.g. [bearer] or [\"header:X-My-Key\"]")
	}
	for i, t := range p.Transports {
		if t == TransportDeviceKey {
			return bad(fmt.Sprintf("transports[%d]", i), "x-device-api-key is for device keys; set deviceKeyHeader instead")
		}
		if _, _, ok := t.Header(); !ok {
			return bad(fmt.Sprintf("transports[%d]", i), fmt.Sprintf("%q is not a transport; use bearer, x-api-key, raw-authorization or header:NAME", t))
		}
	}
	for _, pf := range []struct{ field, v string }{{"userKeyPrefix", p.UserKeyPrefix}, {"deviceKeyPrefix", p.DeviceKeyPrefix}, {"provisioningKeyPrefix", p.ProvisioningKeyPrefix}} {
		if pf.v != "" && (len(pf.v) > 32 || !printable(pf.v) || strings.ContainsAny(pf.v, " .")) {
			return bad(pf.field, fmt.Sprintf("%q is not a key prefix; use up to 32 printable characters without spaces or dots, e.g. ac_live_", pf.v))
		}
	}
	if p.UserKeyPrefix == "" && p.DeviceKeyPrefix == "" {
		return bad("userKeyPrefix", "missing; give the prefix of the profile's API keys, e.g. ac_live_ (or deviceKeyPrefix for device keys)")
	}
	if (p.DeviceKeyPrefix == "") != (p.DeviceKeyHeader == "") {
		return bad("deviceKeyHeader", "deviceKeyPrefix and deviceKeyHeader go together; give both or neither")
	}
	if p.DeviceKeyHeader != "" && !validHeaderName(p.DeviceKeyHeader) {
		return bad("deviceKeyHeader", fmt.Sprintf("%q is not a header name", p.DeviceKeyHeader))
	}
	if p.DeviceKeyHeader != "" {
		if h, _, _ := TransportDeviceKey.Header(); !strings.EqualFold(h, p.DeviceKeyHeader) {
			return bad("deviceKeyHeader", fmt.Sprintf("device keys travel in %s; other device key headers are not supported yet", h))
		}
	}
	switch {
	case p.DeviceState != "" && p.DeviceKeyPrefix == "":
		return bad("deviceState", "a device state path needs device keys; set deviceKeyPrefix and deviceKeyHeader, or drop deviceState")
	case p.DeviceState != "" && strings.Count(p.DeviceState, "{device}") != 1:
		return bad("deviceState", fmt.Sprintf("%q must name the device once as {device}, e.g. /device/{device}/state", p.DeviceState))
	case p.Provisioning != (ProvisioningEndpoints{}) && p.ProvisioningKeyPrefix == "":
		return bad("provisioning", "provisioning endpoints need provisioning keys; set provisioningKeyPrefix, or drop provisioning")
	}
	for _, e := range []error{
		relPath("deviceState", p.DeviceState, false),
		relPath("provisioning.create", p.Provisioning.Create, false),
		relPath("provisioning.redeem", p.Provisioning.Redeem, false),
	} {
		if e != nil {
			return e
		}
	}
	if strings.Count(p.DeviceState, "{") != strings.Count(p.DeviceState, "{device}") {
		return bad("deviceState", fmt.Sprintf("%q: the only placeholder is {device}", p.DeviceState))
	}
	if l := p.Login; l != nil {
		for _, e := range []error{
			relPath("login.path", l.Path, true),
			jsonField("login.accessField", l.AccessField, true),
			jsonField("login.refreshField", l.RefreshField, false),
			jsonField("login.expiresField", l.ExpiresField, true),
			relPath("login.refreshPath", l.RefreshPath, false),
		} {
			if e != nil {
				return e
			}
		}
		if l.Lifetime < 60 || l.Lifetime > 86400 {
			return bad("login.lifetime", fmt.Sprintf("%d is out of range; give the announced access token lifetime in seconds (60..86400)", l.Lifetime))
		}
		switch {
		case l.RefreshPath == "" && (l.RefreshStyle != "" || l.RefreshBodyIn != "" || l.RefreshField != ""):
			return bad("login.refreshPath", "missing; refreshStyle, refreshBodyIn and refreshField need a refresh endpoint")
		case l.RefreshPath != "" && l.RefreshStyle != RefreshBearerCurrent && l.RefreshStyle != RefreshBodyToken:
			return bad("login.refreshStyle", fmt.Sprintf("%q is not a refresh style; use bearer-current or body-refresh-token", l.RefreshStyle))
		case l.RefreshStyle == RefreshBodyToken && (l.RefreshBodyIn == "" || l.RefreshField == ""):
			return bad("login.refreshBodyIn", "body-refresh-token needs refreshField (login response) and refreshBodyIn (refresh request)")
		}
		if e := jsonField("login.refreshBodyIn", l.RefreshBodyIn, false); e != nil {
			return e
		}
		if len(p.JWTAlgs) == 0 {
			return bad("jwtAlgs", "missing; a profile with a login lists the JWT algorithms a deployment may use, e.g. [HS256]")
		}
	}
	for i, a := range p.JWTAlgs {
		if a != "HS256" && a != "RS256" {
			return bad(fmt.Sprintf("jwtAlgs[%d]", i), fmt.Sprintf("%q is not supported; use HS256 or RS256", a))
		}
	}
	if k := p.Keys; k != nil {
		for _, e := range []error{
			relPath("keys.create", k.Create, true), relPath("keys.list", k.List, false), relPath("keys.delete", k.Delete, true),
			jsonField("keys.secretJSON", k.SecretJSON, true), jsonField("keys.idJSON", k.IDJSON, true),
		} {
			if e != nil {
				return e
			}
		}
	}
	for i, pp := range p.PublicPaths {
		if e := relPath(fmt.Sprintf("publicPaths[%d]", i), pp, true); e != nil {
			return e
		}
	}
	for _, eb := range []struct {
		field string
		b     ErrorBody
	}{{"err401Missing", p.Err401Missing}, {"err401", p.Err401}, {"err403", p.Err403}, {"err429", p.Err429}} {
		if len(eb.b.Fields) == 0 {
			return bad(eb.field, "missing; give the body's fields, e.g. fields: [{name: message, kind: string}]")
		}
	}
	if p.RateLimitReset != "" && !slices.Contains(ResetFormats, p.RateLimitReset) {
		return bad("rateLimitReset", fmt.Sprintf("%q is not a reading of X-RateLimit-Reset; use one of %v, or omit it when the vendor document does not say", p.RateLimitReset, ResetFormats))
	}
	for i, c := range p.Capabilities {
		f := fmt.Sprintf("capabilities[%d]", i)
		switch {
		case slices.Contains(derivedCapabilities, c):
			return bad(f, fmt.Sprintf("%s follows from the profile's fields; remove it from capabilities", c))
		case !slices.Contains(listedCapabilities, c):
			return bad(f, fmt.Sprintf("%q is not a capability; use one of %v", c, listedCapabilities))
		case c == CapKeysAPI && (p.Keys == nil || p.Keys.List == ""):
			return bad(f, "keysAPI needs keys.create, keys.list and keys.delete")
		case c == CapMQTT && p.DeviceKeyPrefix == "":
			return bad(f, "mqtt authenticates device keys; set deviceKeyPrefix and deviceKeyHeader")
		case c == CapLicense && p.Login == nil:
			return bad(f, "license checks register devices as an admin; the profile needs a login")
		}
	}
	if p.ProvisioningKeyPrefix != "" && (p.DeviceKeyPrefix == "" || p.Login == nil) {
		return bad("provisioningKeyPrefix", "provisioning yields device keys for an admin's JWT; set deviceKeyPrefix and login too")
	}
	if err := p.Resources.validate(p, bad); err != nil {
		return err
	}
	r := p.Reference
	switch {
	case r.Challenge == "":
		return bad("reference.challenge", `missing; give the WWW-Authenticate value of the reference's 401s, e.g. Bearer realm="acme"`)
	case r.MissingMsg == "" || r.UnauthorizedMsg == "" || r.ForbiddenMsg == "":
		return bad("reference", "missingMessage, unauthorizedMessage and forbiddenMessage are required (the reference's free-text messages)")
	case len(r.OtherError) == 0:
		return bad("reference.otherError", "missing; give the shape of undocumented errors, e.g. [{name: message, value: message}]")
	}
	for i, f := range r.OtherError {
		if f.Value != "message" && f.Value != "status" && f.Value != "statusText" {
			return bad(fmt.Sprintf("reference.otherError[%d].value", i), fmt.Sprintf("%q is not message, status or statusText", f.Value))
		}
		if e := jsonField(fmt.Sprintf("reference.otherError[%d].name", i), f.Name, true); e != nil {
			return e
		}
	}
	return nil
}

func (r *ProfileResources) validate(p *Profile, bad func(field, msg string) error) error {
	if !slices.Contains(resourceModels, r.Model) {
		return bad("resources.model", fmt.Sprintf("%q is not a resource family of the reference; use one of %s", r.Model, strings.Join(resourceModels, ", ")))
	}
	if r.Word == "" {
		return bad("resources.word", "missing; name the resource for check texts, e.g. widget")
	}
	known := map[string]bool{"device": true}
	for i, f := range r.Fields {
		if !knownResourceField(f.Name) {
			return bad(fmt.Sprintf("resources.fields[%d].name", i), fmt.Sprintf("%q is not a target file resources field; use one of %s", f.Name, strings.Join(resourceFieldNames(), ", ")))
		}
		if f.Help == "" {
			return bad(fmt.Sprintf("resources.fields[%d].help", i), "missing; say what the target file must give, e.g. the ID of a widget of the admin")
		}
		known[f.Name] = true
	}
	for _, t := range []struct {
		field, v string
		required bool
	}{{"protected", r.Protected, true}, {"own", r.Own, true}, {"restricted", r.Restricted, false}, {"foreign", r.Foreign, true}, {"missing", r.Missing, true}, {"outsiderHome", r.OutsiderHome, true}} {
		f := "resources." + t.field
		if t.v == "" {
			if t.required {
				return bad(f, "missing; give a path template relative to basePath, e.g. /widgets/{resourceField}")
			}
			continue
		}
		if !strings.HasPrefix(t.v, "/") || strings.ContainsAny(t.v, " ?#") {
			return bad(f, fmt.Sprintf("%q is not a path template; write it as /segment/{field}", t.v))
		}
		for _, m := range placeholder.FindAllStringSubmatch(t.v, -1) {
			if !known[m[1]] {
				return bad(f, fmt.Sprintf("{%s} is not declared; add it to resources.fields (or use {device})", m[1]))
			}
			if m[1] == "device" && p.DeviceKeyPrefix == "" {
				return bad(f, "{device} needs device keys (deviceKeyPrefix)")
			}
		}
	}
	if r.Listing && r.ForeignID == "" {
		return bad("resources.foreignID", "missing; a listing names the resources field of the outsider's object, e.g. otherWidget")
	}
	if r.ForeignID != "" && !known[r.ForeignID] {
		return bad("resources.foreignID", fmt.Sprintf("%q is not declared in resources.fields", r.ForeignID))
	}
	return nil
}

// Path expands a resource path template with the target's values.
func (r *ProfileResources) Path(tmpl string, t *Target) string {
	return placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		if name == "device" {
			if len(t.Devices) == 0 {
				return ""
			}
			return t.Devices[0].UUID
		}
		return t.Resources.Get(name)
	})
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}
