// Package env resolves where the suites' targets come from: the embedded
// reference (default), the reference with a real Mosquitto (exec or
// containers, from env/mqttenv), or an external implementation described
// by a target file. It never links the testing package (env/gotest holds
// the go test entry point).
package env

import (
	"context"
	"fmt"

	"sync"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// Embedded runs the reference in-process on 127.0.0.1. The suite controls
// it completely, so deployment-dependent checks run here.
type Embedded struct {
	profile  spec.ProfileName
	faults   []string
	variants []string
	run      *reference.Running

	mu       sync.Mutex
	deployed []*reference.Running
}

// StartEmbedded starts the reference for profile p with the given faults
// and conformant variants.
func StartEmbedded(ctx context.Context, p spec.ProfileName, faults []string, variants ...string) (*Embedded, error) {
	r, err := reference.Start(ctx, reference.Config{Profile: p, Faults: faults, Variants: variants}, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("env: start embedded reference for %s: %w", p, err)
	}
	return &Embedded{profile: p, faults: faults, variants: variants, run: r}, nil
}

func (e *Embedded) Name() string         { return "embedded" }
func (e *Embedded) Target() *spec.Target { return e.run.Target }
func (e *Embedded) CanDeploy() bool      { return true }

// Deploy starts another in-process reference of the same profile, with the
// same faults, configured by the seed-003 deployment variables.
func (e *Embedded) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	// The instance outlives ctx (a BeforeAll's context ends when it returns).
	r, err := reference.Start(context.WithoutCancel(ctx), reference.Config{Profile: e.profile, Faults: e.faults, Variants: e.variants, Env: vars}, "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("env: deploy %s: %w", e.profile, err)
	}
	e.mu.Lock()
	e.deployed = append(e.deployed, r)
	e.mu.Unlock()
	return r.Target, func() { _ = r.Close() }, nil
}

// Close stops the reference and every deployment.
func (e *Embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.deployed {
		_ = d.Close()
	}
	return e.run.Close()
}

// External is a running implementation described by a target file.
func External(path string) (*framework.StaticEnv, error) {
	t, err := spec.LoadTarget(path)
	if err != nil {
		return nil, err
	}
	return &framework.StaticEnv{T: t, EnvName: "external"}, nil
}

// Environment names accepted by Options.Env.
const (
	EnvAuto       = "auto"       // embedded, with a real broker (exec) for iotistica when mosquitto and the plugin are present
	EnvEmbedded   = "embedded"   // reference in-process, no broker: MQTT checks skip with a reason
	EnvExec       = "exec"       // iotistica: reference in-process + the host's mosquitto with the plugin
	EnvContainers = "containers" // iotistica: reference image + Mosquitto image under testcontainers
	EnvExternal   = "external"   // a running implementation described by a target file
)

// Options select where the targets come from.
type Options struct {
	Profiles []spec.ProfileName
	// TargetPath is a target file (external environment).
	TargetPath string
	// Faults start the reference (and, for mqtt-fail-open, the broker)
	// with deliberate defects.
	Faults []string
	// Variants start the reference with conformant variants.
	Variants []string
	// Env is one of the Env* names ("" = auto).
	Env string
	// Image is the implementation image for the containers environment
	// ("" = the reference image); BrokerImage the Mosquitto image.
	Image, BrokerImage string
	// Note receives one line per environment decision (nil = discard).
	Note func(format string, a ...any)
}

type closer interface {
	framework.Env
	Close() error
}

// Contexts builds one framework context per profile: from the target file
// when o.TargetPath is set, else from the embedded reference, with a real
// Mosquitto for iotistica in the exec and containers environments.
// closeAll stops everything that was started (containers included).
func Contexts(ctx context.Context, o Options) (ctxs []*framework.Ctx, closeAll func(), err error) {
	note := o.Note
	if note == nil {
		note = func(string, ...any) {}
	}
	var closers []func() error
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	if o.TargetPath != "" {
		env, err := External(o.TargetPath)
		if err != nil {
			return nil, closeAll, err
		}
		p := spec.MustGet(env.T.Profile)
		return []*framework.Ctx{{Profile: p, Env: env}}, closeAll, nil
	}
	for _, name := range o.Profiles {
		var e closer
		var err error
		// Profiles whose devices authenticate at an MQTT broker get one in
		// the exec and containers environments.
		mqtt := spec.MustGet(name).Can(spec.CapMQTT)
		switch {
		case mqtt && o.Env == EnvContainers:
			if err = mqttenv.ContainersAvailable(ctx, orDefault(o.Image, containers.DefaultReferenceImage), orDefault(o.BrokerImage, containers.DefaultMosquittoImage)); err != nil {
				err = fmt.Errorf("env: containers environment unavailable: %w (build the images with 'make images')", err)
				break
			}
			e, err = mqttenv.StartContainers(ctx, name, o.Faults, o.Image, o.BrokerImage)
		case mqtt && o.Env == EnvExec:
			if err = mqttenv.ExecAvailable(); err != nil {
				err = fmt.Errorf("env: exec environment unavailable: %w (apt-get install mosquitto mosquitto-dev gcc; make plugin)", err)
				break
			}
			e, err = mqttenv.StartExec(ctx, name, o.Faults, o.Variants...)
		case mqtt && (o.Env == EnvAuto || o.Env == ""):
			if aerr := mqttenv.ExecAvailable(); aerr == nil {
				e, err = mqttenv.StartExec(ctx, name, o.Faults, o.Variants...)
			} else {
				note("%s: no local broker (%v); the MQTT checks will be skipped with their reason", name, aerr)
				e, err = StartEmbedded(ctx, name, o.Faults, o.Variants...)
			}
		default:
			e, err = StartEmbedded(ctx, name, o.Faults, o.Variants...)
		}
		if err != nil {
			if e != nil {
				closers = append(closers, e.Close)
			}
			closeAll()
			return nil, func() {}, err
		}
		closers = append(closers, e.Close)
		ctxs = append(ctxs, &framework.Ctx{Profile: spec.MustGet(name), Env: e})
	}
	return ctxs, closeAll, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Secrets collects every secret of the contexts' targets for masking.
func Secrets(ctxs []*framework.Ctx) []string {
	var out []string
	for _, c := range ctxs {
		out = append(out, c.Target().Secrets()...)
	}
	return out
}
