package loadgen

import (
	"errors"
	"time"
)

// poolWait bounds how long a request waits for a free credential.
const poolWait = time.Minute

// Sentinel errors, matched with errors.Is.
var (
	// ErrUsage marks a problem with the caller's request (a scenario that
	// the profile cannot run, a target without a broker, too many shards):
	// the CLI exits 2 on it.
	ErrUsage = errors.New("loadgen")
	// ErrResults marks an unreadable results file.
	ErrResults = errors.New("results")
	// ErrPoolStalled: no refresh chain or MQTT device came free for
	// poolWait; the attack stops (every credential is stuck in flight).
	ErrPoolStalled = errors.New("loadgen: no credential came free for a minute; the target stopped answering")
)
