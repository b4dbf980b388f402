package reference

import "errors"

// Sentinel errors, worded `subject: message`, matched with errors.Is.
var (
	// ErrUnknownFault: Config.Faults names a fault that is not in Faults().
	ErrUnknownFault = errors.New("reference: unknown fault")
	// ErrConfig: Config (profile, Env) is inconsistent or unparsable.
	ErrConfig = errors.New("reference: bad configuration")
	// ErrListen: Start could not listen on the address.
	ErrListen = errors.New("reference: cannot listen")
)
