package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrorBody is the JSON shape of an error response. The reference renders
// it exactly; the suites judge it by SPEC.md's level discipline:
//
//   - a seed-given body (RefDefined false) MUST carry the seed's fields
//     with the seed's values; extra fields are allowed (INFO);
//   - a ref-defined body MUST only be a JSON object;
//   - the exact shape (these fields and no others) is SHOULD for both.
type ErrorBody struct {
	Fields []Field
	// RefDefined: no seed shows this body; the reference chose it.
	RefDefined bool
}

// FieldKind says how a field's value is checked.
type FieldKind int

const (
	KindExact     FieldKind = iota // value equals Value (after JSON round trip)
	KindAnyString                  // any non-empty string
	KindPattern                    // string matching Pattern
	KindInteger                    // any integral JSON number
)

// Field is one field of an ErrorBody.
type Field struct {
	Name    string
	Kind    FieldKind
	Value   any // KindExact
	Pattern *regexp.Regexp
}

// Body builds a seed-given ErrorBody: the seed shows these fields.
func Body(fs ...Field) ErrorBody { return ErrorBody{Fields: fs} }

// RefBody builds a ref-defined ErrorBody: the reference's choice.
func RefBody(fs ...Field) ErrorBody { return ErrorBody{Fields: fs, RefDefined: true} }

// MatchRequired checks what a body MUST be (SPEC.md level discipline): a
// JSON object; for a seed-given body also every seed field with an
// acceptable value. extra lists the fields the body has beyond the shape
// (allowed, reported as INFO).
func (b ErrorBody) MatchRequired(body []byte) (extra []string, err error) {
	got, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	problems, extra := b.compare(got, !b.RefDefined)
	if len(problems) > 0 {
		return extra, fmt.Errorf("%w: %s", ErrBodyMismatch, strings.Join(problems, "; "))
	}
	return extra, nil
}

// compare lists the problems of got against the shape's fields (values
// checked only when checkFields) and the fields beyond the shape, sorted.
func (b ErrorBody) compare(got map[string]any, checkFields bool) (problems, extra []string) {
	want := map[string]bool{}
	for _, f := range b.Fields {
		want[f.Name] = true
		if !checkFields {
			continue
		}
		v, ok := got[f.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("field %q missing", f.Name))
			continue
		}
		if p := f.check(v); p != "" {
			problems = append(problems, fmt.Sprintf("field %q: %s", f.Name, p))
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return problems, extra
}

func decodeObject(body []byte) (map[string]any, error) {
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrBodyMismatch, err)
	}
	if got == nil {
		return nil, fmt.Errorf("%w: not a JSON object: null", ErrBodyMismatch)
	}
	return got, nil
}

// Exact is a field whose value must equal v.
func Exact(name string, v any) Field { return Field{Name: name, Kind: KindExact, Value: v} }

// AnyString is a field holding any non-empty string.
func AnyString(name string) Field { return Field{Name: name, Kind: KindAnyString} }

// Pattern is a string field matching re.
func Pattern(name, re string) Field {
	return Field{Name: name, Kind: KindPattern, Pattern: regexp.MustCompile(re)}
}

// Integer is a field holding an integral number.
func Integer(name string) Field { return Field{Name: name, Kind: KindInteger} }

// Render builds a body of this shape. Free string fields get message;
// pattern fields get message too (the caller formats it to match); integer
// fields get the matching entry of ints (by name), else 0.
func (b ErrorBody) Render(message string, ints map[string]int) map[string]any {
	out := make(map[string]any, len(b.Fields))
	for _, f := range b.Fields {
		switch f.Kind {
		case KindExact:
			out[f.Name] = f.Value
		case KindAnyString, KindPattern:
			out[f.Name] = message
		case KindInteger:
			out[f.Name] = ints[f.Name]
		}
	}
	return out
}

// Match checks a response body against the exact shape: valid JSON
// object, every field present with an acceptable value, no extra fields
// (the SHOULD part; MatchRequired is the MUST part). The error says which
// field is wrong and never echoes more than the field's value.
func (b ErrorBody) Match(body []byte) error {
	got, err := decodeObject(body)
	if err != nil {
		return err
	}
	problems, extra := b.compare(got, true)
	for _, k := range extra {
		problems = append(problems, fmt.Sprintf("unexpected field %q", k))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBodyMismatch, strings.Join(problems, "; "))
	}
	return nil
}

func (f Field) check(v any) string {
	switch f.Kind {
	case KindExact:
		switch want := f.Value.(type) {
		case string:
			if s, ok := v.(string); !ok || s != want {
				return fmt.Sprintf("got %v, want %q", v, want)
			}
		case int:
			n, ok := v.(json.Number)
			if !ok || n.String() != fmt.Sprint(want) {
				return fmt.Sprintf("got %v, want %d", v, want)
			}
		default:
			if fmt.Sprint(v) != fmt.Sprint(want) {
				return fmt.Sprintf("got %v, want %v", v, want)
			}
		}
	case KindAnyString:
		if s, ok := v.(string); !ok || s == "" {
			return fmt.Sprintf("got %v, want a non-empty string", v)
		}
	case KindPattern:
		s, ok := v.(string)
		if !ok || !f.Pattern.MatchString(s) {
			return fmt.Sprintf("got %v, want a string matching %s", v, f.Pattern)
		}
	case KindInteger:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprintf("got %v, want an integer", v)
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Sprintf("got %v, want an integer", v)
		}
	}
	return ""
}

// Int returns the integer field name of a JSON body, for 429's retry_after.
func Int(body []byte, name string) (int64, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return 0, err
	}
	v, ok := raw[name].(json.Number)
	if !ok {
		return 0, fmt.Errorf("field %q is not a number", name)
	}
	return v.Int64()
}

// strictDecodable is a type that decodes itself from a profile or target
// document with strictDecoder's field-naming errors.
type strictDecodable interface {
	decodeStrict(d strictDecoder, n *yaml.Node, path string) error
}

// errorBodyDoc is an ErrorBody as a profile file writes it:
//
//	err401: {refDefined: true, fields: [{name: message, kind: string}]}
type errorBodyDoc struct {
	RefDefined bool       `yaml:"refDefined"`
	Fields     []fieldDoc `yaml:"fields"`
}

// fieldDoc is one field: exact (a string or an integer), pattern (a
// regular expression), or kind string / integer.
type fieldDoc struct {
	Name    string    `yaml:"name"`
	Exact   yaml.Node `yaml:"exact"`
	Pattern string    `yaml:"pattern"`
	Kind    string    `yaml:"kind"`
}

func (b *ErrorBody) decodeStrict(d strictDecoder, n *yaml.Node, path string) error {
	var doc errorBodyDoc
	if err := d.decode(n, reflect.ValueOf(&doc).Elem(), path); err != nil {
		return err
	}
	bad := func(field, msg string) error { return &FieldError{doc: d.doc, Field: path + "." + field, Msg: msg} }
	out := ErrorBody{RefDefined: doc.RefDefined}
	seen := map[string]bool{}
	for i, f := range doc.Fields {
		at := fmt.Sprintf("fields[%d]", i)
		if f.Name == "" {
			return bad(at+".name", "missing; give the JSON field name, e.g. message")
		}
		if seen[f.Name] {
			return bad(at+".name", fmt.Sprintf("%q is given twice", f.Name))
		}
		seen[f.Name] = true
		set := 0
		if f.Exact.Kind != 0 {
			set++
		}
		if f.Pattern != "" {
			set++
		}
		if f.Kind != "" {
			set++
		}
		if set != 1 {
			return bad(at, "give exactly one of exact: VALUE, pattern: REGEXP or kind: string|integer")
		}
		switch {
		case f.Exact.Kind != 0:
			if f.Exact.Kind != yaml.ScalarNode {
				return bad(at+".exact", "want a string or an integer")
			}
			var v any = f.Exact.Value
			if f.Exact.Tag == "!!int" {
				var i int
				if err := f.Exact.Decode(&i); err != nil {
					return bad(at+".exact", fmt.Sprintf("%q is not an integer", f.Exact.Value))
				}
				v = i
			} else if f.Exact.Tag != "!!str" {
				return bad(at+".exact", fmt.Sprintf("%q: want a string (quote it) or an integer", f.Exact.Value))
			}
			out.Fields = append(out.Fields, Exact(f.Name, v))
		case f.Pattern != "":
			re, err := regexp.Compile(f.Pattern)
			if err != nil {
				return bad(at+".pattern", "not a regular expression: "+OneLine(err.Error()))
			}
			out.Fields = append(out.Fields, Field{Name: f.Name, Kind: KindPattern, Pattern: re})
		case f.Kind == "string":
			out.Fields = append(out.Fields, AnyString(f.Name))
		case f.Kind == "integer":
			out.Fields = append(out.Fields, Integer(f.Name))
		default:
			return bad(at+".kind", fmt.Sprintf("%q is not a kind; use string or integer", f.Kind))
		}
	}
	*b = out
	return nil
}
