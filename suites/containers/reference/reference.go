// Package reference starts the reference implementation's image (or an
// implementer's image that behaves the same way) under testcontainers-go.
//
//	nw, _ := containers.NewNetwork(ctx)
//	ref, err := reference.Run(ctx, containers.DefaultReferenceImage,
//	    reference.WithNetwork(nw.Name, "reference"),
//	    reference.WithFaults("mqtt-fail-open"),
//	    reference.WithEnv(map[string]string{"JWT_SECRET": secret}))
//	defer ref.Terminate(ctx) // ref is non-nil even when err is not
//
// The image is FROM scratch (no shell): readiness is the log line
// "listening on" plus an HTTP answer on the mapped port, never an exec.
package reference

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/containers"
)

// Defaults.
const (
	DefaultPort           = "8080/tcp"
	DefaultAlias          = "reference"
	DefaultStartupTimeout = 30 * time.Second
	// TargetPath is where the reference image writes its target file.
	TargetPath = "/tmp/target.yaml"
)

type settings struct {
	network        string
	aliases        []string
	args           []string
	env            map[string]string
	port           string
	readTarget     bool
	startupTimeout time.Duration
	labels         map[string]string
	name           string
}

// Option configures Run.
type Option func(*settings)

// WithNetwork attaches the container to network with aliases (default
// alias "reference", the name the Mosquitto config uses).
func WithNetwork(network string, aliases ...string) Option {
	return func(s *settings) {
		s.network = network
		if len(aliases) > 0 {
			s.aliases = aliases
		}
	}
}

// WithProfile selects the profile (the image defaults to iotistica).
func WithProfile(p spec.ProfileName) Option {
	return func(s *settings) { s.args = append(s.args, "--profile", string(p)) }
}

// WithFaults starts the reference with deliberate defects (mutants).
func WithFaults(faults ...string) Option {
	return func(s *settings) {
		for _, f := range faults {
			s.args = append(s.args, "--fault", f)
		}
	}
}

// WithArgs appends raw arguments to the image's entrypoint.
func WithArgs(args ...string) Option { return func(s *settings) { s.args = append(s.args, args...) } }

// WithEnv sets environment variables (JWT_SECRET, LICENSE_KEY, ...).
func WithEnv(env map[string]string) Option {
	return func(s *settings) {
		for k, v := range env {
			s.env[k] = v
		}
	}
}

// WithPort sets the container port the API listens on (default 8080/tcp).
func WithPort(p string) Option { return func(s *settings) { s.port = p } }

// WithoutTarget is for images that are not the reference: no
// --target-out argument, Container.Target stays nil.
func WithoutTarget() Option { return func(s *settings) { s.readTarget = false } }

// WithStartupTimeout bounds the wait for readiness.
func WithStartupTimeout(d time.Duration) Option { return func(s *settings) { s.startupTimeout = d } }

// WithLabels adds labels (the run labels are always set).
func WithLabels(l map[string]string) Option {
	return func(s *settings) {
		for k, v := range l {
			s.labels[k] = v
		}
	}
}

// WithName names the container.
func WithName(n string) Option { return func(s *settings) { s.name = n } }

// Container is a running reference.
type Container struct {
	testcontainers.Container
	// URL is http://host:port of the API as seen from this process.
	URL string
	// Target is the instance's target file with BaseURL set to URL (nil
	// WithoutTarget). Its MQTT section is for the caller to fill in.
	Target *spec.Target
}

// Run starts image with opts. The returned Container is non-nil whenever a
// container was created, also on error, so that Terminate can remove it.
func Run(ctx context.Context, image string, opts ...Option) (*Container, error) {
	s := settings{
		aliases: []string{DefaultAlias}, env: map[string]string{}, port: DefaultPort,
		readTarget: true, startupTimeout: DefaultStartupTimeout, labels: map[string]string{},
	}
	for _, o := range opts {
		o(&s)
	}
	args := s.args
	if s.readTarget {
		args = append([]string{"--target-out", TargetPath}, args...)
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			Cmd:          args,
			Env:          s.env,
			ExposedPorts: []string{s.port},
			Labels:       containers.Labels(s.labels),
			Name:         s.name,
			WaitingFor: wait.ForAll(
				wait.ForLog("listening on"),
				// A real HTTP answer (any status): docker-proxy accepts TCP
				// before the server listens, and after a restart the old
				// "listening on" line is still in the log.
				wait.ForHTTP("/").WithPort(s.port).WithStatusCodeMatcher(func(int) bool { return true }),
			).WithDeadline(s.startupTimeout),
		},
		Started: true,
	}
	if s.network != "" {
		req.Networks = []string{s.network}
		req.NetworkAliases = map[string][]string{s.network: s.aliases}
	}
	tc, err := testcontainers.GenericContainer(ctx, req)
	var c *Container
	if tc != nil {
		c = &Container{Container: tc}
	}
	if err != nil {
		return c, fmt.Errorf("reference container %s: %s%s", image, oneLine(err), logTail(ctx, tc))
	}
	host, err := tc.Host(ctx)
	if err != nil {
		return c, fmt.Errorf("reference container: host: %s", oneLine(err))
	}
	mp, err := tc.MappedPort(ctx, s.port)
	if err != nil {
		return c, fmt.Errorf("reference container: mapped port: %s", oneLine(err))
	}
	c.URL = "http://" + net.JoinHostPort(host, mp.Port())
	if s.readTarget {
		rc, err := tc.CopyFileFromContainer(ctx, TargetPath)
		if err != nil {
			return c, fmt.Errorf("reference container: read %s: %s", TargetPath, oneLine(err))
		}
		// The image may be the user's: bound what is read of its file.
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return c, fmt.Errorf("reference container: read %s: %s", TargetPath, oneLine(err))
		}
		t, err := spec.ParseTarget(b)
		if err != nil {
			return c, fmt.Errorf("reference container: target file: %s", oneLine(err))
		}
		t.BaseURL = c.URL
		c.Target = t
	}
	return c, nil
}

// Terminate stops and removes the container; nil-safe.
func (c *Container) Terminate(ctx context.Context) error {
	if c == nil || c.Container == nil {
		return nil
	}
	return c.Container.Terminate(ctx)
}

// logTail returns the last lines of the container's log for an error
// message (the reference never logs secrets).
func logTail(ctx context.Context, c testcontainers.Container) string {
	if c == nil {
		return ""
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return "; last log lines: " + strings.Join(lines, " | ")
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
