package spec

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// RateHeaderError says why a rate-limit header of a response is not one
// integer.
type RateHeaderError struct {
	Name string
	// Values are the header's values as received (none when it is
	// missing).
	Values []string
}

func (e *RateHeaderError) Error() string {
	if len(e.Values) != 1 {
		return fmt.Sprintf("header %s: %d values, want exactly one", e.Name, len(e.Values))
	}
	return fmt.Sprintf("header %s: %q is not an integer", e.Name, e.Values[0])
}

// RateHeader reads the rate-limit header name (HeaderRateLimit,
// HeaderRateRemaining or HeaderRateReset) of h: exactly one value, an
// integer in base 10 (white space around it is ignored). Otherwise the
// error is a *RateHeaderError.
func RateHeader(h http.Header, name string) (int64, error) {
	vs := h.Values(name)
	if len(vs) != 1 {
		return 0, &RateHeaderError{Name: name, Values: vs}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
	if err != nil {
		return 0, &RateHeaderError{Name: name, Values: vs}
	}
	return n, nil
}

// RateHeaders reads X-RateLimit-Limit, -Remaining and -Reset of h with
// RateHeader; err is that of the first one (in this order) that is not one
// integer.
func RateHeaders(h http.Header) (limit, remaining, reset int64, err error) {
	var vals [3]int64
	for i, name := range []string{HeaderRateLimit, HeaderRateRemaining, HeaderRateReset} {
		if vals[i], err = RateHeader(h, name); err != nil {
			return 0, 0, 0, err
		}
	}
	return vals[0], vals[1], vals[2], nil
}
