package spec

import "errors"

// Sentinel errors, worded `subject: message`, matched with errors.Is.
var (
	ErrUnknownProfile = errors.New("spec: unknown profile")
	ErrBodyMismatch   = errors.New("spec: body does not match the profile's shape")
	ErrCatalogue      = errors.New("spec: catalogue")
	ErrTarget         = errors.New("target file")
	ErrProfile        = errors.New("profile file")
)
