package mqttauth

import (
	"strconv"
	"unicode/utf8"
)

// The bodies are written by hand into a pooled, pre-sized buffer: one call
// per MQTT CONNECT sits on Mosquitto's single thread, so no reflection, no
// maps, no intermediate strings. The output is byte-for-byte what
// encoding/json and url.Values.Encode produce for the same fields (tested).

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal, escaping like
// encoding/json (HTML-safe escapes included, invalid UTF-8 -> U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendQueryEscape appends s escaped like url.QueryEscape.
func appendQueryEscape(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xF])
		}
	}
	return b
}

// field is one name/value pair of a request body; num marks an integer
// value written unquoted in JSON (acc).
type field struct {
	name string
	str  string
	num  int
	isN  bool
}

// appendBody appends the fields as a JSON object (encoding/json key order:
// sorted, which the callers pass) or as a form (url.Values.Encode order:
// sorted too).
func appendBody(b []byte, form bool, fields ...field) []byte {
	for i, f := range fields {
		if form {
			if i > 0 {
				b = append(b, '&')
			}
			b = append(b, f.name...)
			b = append(b, '=')
			if f.isN {
				b = strconv.AppendInt(b, int64(f.num), 10)
			} else {
				b = appendQueryEscape(b, f.str)
			}
			continue
		}
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		if f.isN {
			b = strconv.AppendInt(b, int64(f.num), 10)
		} else {
			b = appendJSONString(b, f.str)
		}
	}
	if !form {
		b = append(b, '}')
	}
	return b
}
