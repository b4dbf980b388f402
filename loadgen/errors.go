package loadgen

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrUsage marks a problem with the caller's request (a scenario that
	// the profile cannot run, a target without a broker, too many shards):
	// the CLI exits 2 on it.
	ErrUsage = errors.New("loadgen")
	// ErrResults marks an unreadable results file.
	ErrResults = errors.New("results")
)
