package reference

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/authconform/authconform/spec"
)

// code is an error outcome; each dialect maps codes to a status and body
// in one table (dialectFor), never in handlers.
type code int

const (
	codeMissing      code = iota // no credential at all
	codeUnauthorized             // bad, unknown, revoked, expired credential; failed login
	codeForbidden                // valid principal, no access
	codeRateLimited              // over budget
	codeBadRequest               // malformed body or parameter
	codeNotFound                 // no such route
	codeTooLarge                 // body over MaxBodyBytes
	codeInternal                 // recovered panic
)

var statusOf = map[code]int{
	codeMissing:      http.StatusUnauthorized,
	codeUnauthorized: http.StatusUnauthorized,
	codeForbidden:    http.StatusForbidden,
	codeRateLimited:  http.StatusTooManyRequests,
	codeBadRequest:   http.StatusBadRequest,
	codeNotFound:     http.StatusNotFound,
	codeTooLarge:     http.StatusRequestEntityTooLarge,
	codeInternal:     http.StatusInternalServerError,
}

// dialect is one profile's error vocabulary.
type dialect struct {
	// messages for the free-text fields of Err401Missing / Err401 / Err403.
	missingMsg, unauthorizedMsg, forbiddenMsg string
	// challenge is the WWW-Authenticate value of every 401.
	challenge string
	// other renders statuses the seeds do not document (400, 404, 413, 500)
	// in the profile's shape.
	other func(status int, msg string) map[string]any
}

// dialectFor reads the profile document's reference section: the
// messages, the challenge and the shape of undocumented errors.
func dialectFor(p *spec.Profile) dialect {
	r := p.Reference
	fields := append([]spec.OtherField(nil), r.OtherError...)
	return dialect{r.MissingMsg, r.UnauthorizedMsg, r.ForbiddenMsg, r.Challenge,
		func(st int, msg string) map[string]any {
			body := make(map[string]any, len(fields))
			for _, f := range fields {
				switch f.Value {
				case "status":
					body[f.Name] = st
				case "statusText":
					body[f.Name] = http.StatusText(st)
				default: // message
					body[f.Name] = msg
				}
			}
			if len(body) == 0 {
				body["message"] = msg
			}
			return body
		}}
}

// apiError carries a code and a safe message (never a secret).
type apiError struct {
	code code
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func fail(c code, format string, a ...any) *apiError {
	return &apiError{code: c, msg: fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

// encodingFailed is the body writeJSON writes when encoding fails.
func encodingFailed() []byte { return []byte(`{"error":"encoding failed"}` + "\n") }

// writeJSONBytes writes b (encoded JSON ending in "\n") with writeJSON's
// headers. The header names are canonical, so assigning them is what
// Header.Set does; one backing array serves both values.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	vs := []string{"application/json", "nosniff"}
	h := w.Header()
	h["Content-Type"] = vs[0:1:1]
	h["X-Content-Type-Options"] = vs[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError renders e in the profile's dialect. retryAfter is used for 429.
func (s *Server) writeError(w http.ResponseWriter, e *apiError, retryAfter int) {
	p, d := s.profile, s.dialect
	status := statusOf[e.code]
	var body map[string]any
	switch e.code {
	case codeMissing:
		body = p.Err401Missing.Render(d.missingMsg, nil)
		if s.faults.on(FaultWrongErrorBody) {
			body = map[string]any{"error": "unauthorized"} // DELIBERATE DEFECT
		}
	case codeUnauthorized:
		body = p.Err401.Render(d.unauthorizedMsg, nil)
	case codeForbidden:
		body = p.Err403.Render(d.forbiddenMsg, nil)
	case codeRateLimited:
		msg := fmt.Sprintf("Rate limit exceeded. Try again in %d seconds.", retryAfter)
		body = p.Err429.Render(msg, map[string]int{"retry_after": retryAfter})
		if s.variants.on(VariantCamelRetryAfter) && p.Err429.RefDefined {
			// Allowed variant: the 429 body is ref-defined (iotistica).
			delete(body, "retry_after")
			body["retryAfter"] = retryAfter
		}
		if s.faults.on(FaultRateLimitWrongBody) {
			body = map[string]any{"error": "rate limited"} // DELIBERATE DEFECT
		}
		w.Header().Set(spec.HeaderRetryAfter, strconv.Itoa(retryAfter))
	default:
		body = d.other(status, e.msg)
	}
	if s.variants.on(VariantExtraErrorFields) {
		// Allowed variant: an extra field in every error body (seed-given
		// bodies need the seed's fields, ref-defined ones a JSON object).
		body["statusCode"] = status
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", d.challenge)
	}
	writeJSON(w, status, body)
}

func asAPIError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	return fail(codeInternal, "internal error")
}

var errorsIs = errors.Is
