// Package refimage starts the reference implementation's image (or an
// implementer's image that behaves the same way) under testcontainers-go.
//
//	nw, _ := containers.NewNetwork(ctx)
//	ref, err := refimage.Run(ctx, containers.DefaultReferenceImage,
//	    refimage.WithNetwork(nw, "reference"),
//	    refimage.WithFaults("mqtt-fail-open"),
//	    testcontainers.WithEnv(map[string]string{"JWT_SECRET": secret}))
//	defer ref.Terminate(ctx) // ref is non-nil even when err is not
//
// The image is FROM scratch (no shell): readiness is the log line
// "listening on" plus an HTTP answer on the mapped port, never an exec.
package refimage

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/spec"
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
	port           string
	readTarget     bool
	startupTimeout time.Duration
}

// Option is a setting of this package. Run takes any
// testcontainers.ContainerCustomizer, so testcontainers' own options
// (WithEnv, WithLabels, WithName, WithCmdArgs, network.WithNetwork, ...)
// mix with these; the run labels are always added.
type Option func(*settings)

// Customize implements testcontainers.ContainerCustomizer; an Option acts
// on Run's settings before the request is built.
func (Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

// WithNetwork attaches the container to nw with aliases (default alias
// "reference", the name the Mosquitto config uses).
func WithNetwork(nw *containers.Network, aliases ...string) testcontainers.ContainerCustomizer {
	if len(aliases) == 0 {
		aliases = []string{DefaultAlias}
	}
	return tcnetwork.WithNetwork(aliases, nw.DockerNetwork)
}

// WithProfile selects the profile (the image defaults to iotistica).
func WithProfile(p spec.ProfileName) testcontainers.ContainerCustomizer {
	return testcontainers.WithCmdArgs("--profile", string(p))
}

// WithFaults starts the reference with deliberate defects (mutants).
func WithFaults(faults ...string) testcontainers.ContainerCustomizer {
	var args []string
	for _, f := range faults {
		args = append(args, "--fault", f)
	}
	return testcontainers.WithCmdArgs(args...)
}

// WithPort sets the container port the API listens on (default 8080/tcp).
func WithPort(p string) Option { return func(s *settings) { s.port = p } }

// WithoutTarget is for images that are not the reference: no
// --target-out argument, Container.Target stays nil.
func WithoutTarget() Option { return func(s *settings) { s.readTarget = false } }

// WithStartupTimeout bounds the wait for readiness.
func WithStartupTimeout(d time.Duration) Option { return func(s *settings) { s.startupTimeout = d } }

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
func Run(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	containers.Configure()
	s := settings{port: DefaultPort, readTarget: true, startupTimeout: DefaultStartupTimeout}
	for _, o := range opts {
		if so, ok := o.(Option); ok {
			so(&s)
		}
	}
	var args []string
	if s.readTarget {
		args = []string{"--target-out", TargetPath}
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			Cmd:          args,
			ExposedPorts: []string{s.port},
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
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			return nil, fmt.Errorf("reference container %s: option: %s", image, spec.OneLine(err.Error()))
		}
	}
	req.Labels = containers.Labels(req.Labels)
	tc, err := testcontainers.GenericContainer(ctx, req)
	var c *Container
	if tc != nil {
		c = &Container{Container: tc}
	}
	if err != nil {
		return c, fmt.Errorf("reference container %s: %s%s", image, spec.OneLine(err.Error()), logTail(ctx, tc))
	}
	host, err := tc.Host(ctx)
	if err != nil {
		return c, fmt.Errorf("reference container: host: %s", spec.OneLine(err.Error()))
	}
	mp, err := tc.MappedPort(ctx, s.port)
	if err != nil {
		return c, fmt.Errorf("reference container: mapped port: %s", spec.OneLine(err.Error()))
	}
	c.URL = "http://" + net.JoinHostPort(host, mp.Port())
	if s.readTarget {
		rc, err := tc.CopyFileFromContainer(ctx, TargetPath)
		if err != nil {
			return c, fmt.Errorf("reference container: read %s: %s", TargetPath, spec.OneLine(err.Error()))
		}
		// The image may be the user's: bound what is read of its file.
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return c, fmt.Errorf("reference container: read %s: %s", TargetPath, spec.OneLine(err.Error()))
		}
		t, err := spec.ParseTarget(b)
		if err != nil {
			return c, fmt.Errorf("reference container: target file: %s", spec.OneLine(err.Error()))
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
