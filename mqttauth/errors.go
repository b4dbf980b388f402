package mqttauth

import "errors"

// Sentinel errors, worded `subject: message`, matched with errors.Is.
var (
	// ErrBackend is wrapped by every error that means "the HTTP backend did
	// not give an answer": refused or reset connection, timeout, 5xx. The
	// plugin refuses the client on it (fail closed).
	ErrBackend = errors.New("mqttauth: backend unavailable")
	// ErrOption is wrapped by every bad-option error; the message names the
	// option and how to fix it.
	ErrOption = errors.New("mqttauth: bad option")
)
