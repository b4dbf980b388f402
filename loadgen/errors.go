package loadgen

import (
	"errors"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// poolWait bounds how long a request waits for a free credential.
const poolWait = time.Minute

// takeFree waits for a free credential of a pool (refresh chains, MQTT
// devices). It returns vegeta.ErrNoTargets once done is closed, and
// ErrPoolStalled after poolWait, which stops the attack rather than hang it.
func takeFree[T any](free <-chan T, done <-chan struct{}) (T, error) {
	var zero T
	select {
	case c := <-free:
		return c, nil
	case <-done:
		return zero, vegeta.ErrNoTargets
	case <-time.After(poolWait):
		return zero, ErrPoolStalled
	}
}

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
