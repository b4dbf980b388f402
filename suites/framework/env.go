package framework

import (
	"context"
	"errors"

	"github.com/authconform/authconform/spec"
)

// Env is where a target comes from: the embedded reference, containers, or
// an external implementation described by a target file. Implementations
// live in env/ (embedded, external, exec, containers); the framework only
// needs this.
type Env interface {
	// Name is embedded, containers, exec or external.
	Name() string
	// Target describes the running implementation.
	Target() *spec.Target
	// CanDeploy reports whether Deploy works here.
	CanDeploy() bool
	// Deploy starts a fresh, separate instance of the same profile with
	// the deployment variables of seed 003 (JWT_SECRET, JWT_PUBLIC_KEY,
	// JWT_PRIVATE_KEY, LICENSE_KEY, LICENSE_PUBLIC_KEY). stop releases it;
	// the instance lives until stop, whatever happens to ctx (which only
	// bounds the start-up).
	Deploy(ctx context.Context, vars map[string]string) (t *spec.Target, stop func(), err error)
}

// ErrNoDeployment is returned by Deploy where the suite cannot control the
// deployment (external targets).
var ErrNoDeployment = errors.New("framework: this environment cannot start deployments")

// StaticEnv is an Env for an already running implementation (a target
// file): no deployment control.
type StaticEnv struct {
	T       *spec.Target
	EnvName string
}

func (s *StaticEnv) Name() string {
	if s.EnvName == "" {
		return "external"
	}
	return s.EnvName
}
func (s *StaticEnv) Target() *spec.Target { return s.T }
func (s *StaticEnv) CanDeploy() bool      { return false }
func (s *StaticEnv) Deploy(context.Context, map[string]string) (*spec.Target, func(), error) {
	return nil, nil, ErrNoDeployment
}

// BackendMode is what an MQTT environment's auth backend does, as seen by
// the broker.
type BackendMode string

// Backend modes.
const (
	BackendUp    BackendMode = "up"    // answers normally
	BackendDown  BackendMode = "down"  // refuses connections
	BackendSlow  BackendMode = "slow"  // answers only after the plugin's timeout
	BackendError BackendMode = "error" // answers 503
)

// ErrBackendUnsupported is returned by SetBackend for a mode the
// environment cannot produce.
var ErrBackendUnsupported = errors.New("framework: backend mode not supported here")

// BackendControl is implemented by environments that can take the MQTT
// broker's auth backend down (env/mqttenv); MQTT checks that need it find
// it on Ctx.Env.
type BackendControl interface {
	SetBackend(ctx context.Context, m BackendMode) error
}
