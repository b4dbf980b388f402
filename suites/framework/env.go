package framework

import (
	"context"
	"errors"

	"github.com/authconform/authconform/spec"
)

// Env is where a target comes from: the embedded reference, containers, or
// an external implementation described by a target file. Implementations
// live in suites/envs and suites/containers; the framework only needs this.
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
