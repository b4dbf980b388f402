// Package mosquitto starts the project's Mosquitto image (the host's
// Debian Mosquitto + the authconform HTTP auth plugin, FROM scratch) under
// testcontainers-go. It does not use testcontainers' modules/mosquitto,
// which no release the module proxy serves contains.
//
//	mq, err := mosquitto.Run(ctx, containers.DefaultMosquittoImage,
//	    mosquitto.WithNetwork(nw),
//	    mosquitto.WithAPI("reference", 8080))
//	defer mq.Terminate(ctx) // non-nil even when err is not
//	// mq.Address is tcp://127.0.0.1:PORT
//
// Readiness is the log line "mosquitto version X running" plus the mapped
// port answering; a FROM scratch image has no shell to exec a port check.
package mosquitto

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/spec"
)

// Defaults, matching ci/images/mosquitto.
const (
	DefaultPort           = "1883/tcp"
	DefaultAPIHost        = "reference"
	DefaultAPIPort        = 8080
	DefaultStartupTimeout = 30 * time.Second
	// PluginPath is where the image keeps the plugin.
	PluginPath = "/usr/lib/mosquitto/mosquitto_auth_http.so"
	// ConfigPath is the config the image's entrypoint reads.
	ConfigPath = "/mosquitto/config/mosquitto.conf"
)

type settings struct {
	pluginOpts     containers.PluginOptions
	config         string
	startupTimeout time.Duration
}

// Option is a setting of this package. Run takes any
// testcontainers.ContainerCustomizer, so testcontainers' own options
// (WithLabels, WithName, network.WithNetwork, ...) mix with these; the run
// labels are always added.
type Option func(*settings)

// Customize implements testcontainers.ContainerCustomizer; an Option acts
// on Run's settings before the request is built.
func (Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

// WithNetwork attaches the broker to nw (with optional aliases).
func WithNetwork(nw *containers.Network, aliases ...string) testcontainers.ContainerCustomizer {
	return tcnetwork.WithNetwork(aliases, nw.DockerNetwork)
}

// WithAPI points the plugin at host:port (the API's network alias).
func WithAPI(host string, port int) Option {
	return func(s *settings) { s.pluginOpts.SetAPI(host, port) }
}

// WithAPIURL points the plugin at a base URL instead of host and port.
func WithAPIURL(u string) Option {
	return func(s *settings) { s.pluginOpts.SetAPIURL(u) }
}

// WithPluginOptions sets plugin_opt_* values (names without the prefix),
// e.g. {"http_timeout": "1"}.
func WithPluginOptions(o map[string]string) Option {
	return func(s *settings) { s.pluginOpts.Merge(o) }
}

// WithFailOpen builds the mutant `--fault mqtt-fail-open`: the plugin
// ALLOWS clients when the API fails. Never in a real deployment.
func WithFailOpen() Option { return func(s *settings) { s.pluginOpts.SetFailOpen() } }

// WithConfig replaces the whole generated mosquitto.conf.
func WithConfig(conf string) Option { return func(s *settings) { s.config = conf } }

// WithStartupTimeout bounds the wait for readiness.
func WithStartupTimeout(d time.Duration) Option { return func(s *settings) { s.startupTimeout = d } }

// Container is a running broker.
type Container struct {
	testcontainers.Container
	// Address is tcp://host:port of the broker as seen from this process.
	Address string
	// Config is the mosquitto.conf the broker runs with.
	Config string
}

// Run starts image with opts. The returned Container is non-nil whenever a
// container was created, also on error.
func Run(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	containers.Configure()
	s := settings{
		pluginOpts: map[string]string{
			"http_host": DefaultAPIHost, "http_port": strconv.Itoa(DefaultAPIPort), "http_timeout": "2",
		},
		startupTimeout: DefaultStartupTimeout,
	}
	for _, o := range opts {
		if so, ok := o.(Option); ok {
			so(&s)
		}
	}
	conf := s.config
	if conf == "" {
		conf = containers.MosquittoConfig(containers.BrokerConfig{
			Listener: "1883 0.0.0.0", Plugin: PluginPath, PluginOptions: s.pluginOpts,
		})
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			ExposedPorts: []string{DefaultPort},
			Files: []testcontainers.ContainerFile{{
				Reader: strings.NewReader(conf), ContainerFilePath: ConfigPath, FileMode: 0o644,
			}},
			WaitingFor: wait.ForAll(
				wait.ForLog(containers.ReadyLog).AsRegexp(),
				wait.ForListeningPort(DefaultPort).SkipInternalCheck(),
			).WithDeadline(s.startupTimeout),
		},
		Started: true,
	}
	for _, o := range opts {
		if err := o.Customize(&req); err != nil {
			return nil, fmt.Errorf("mosquitto container %s: option: %s", image, spec.OneLine(err.Error()))
		}
	}
	req.Labels = containers.Labels(req.Labels)
	tc, err := testcontainers.GenericContainer(ctx, req)
	var c *Container
	if tc != nil {
		c = &Container{Container: tc, Config: conf}
	}
	if err != nil {
		return c, fmt.Errorf("mosquitto container %s: %s%s", image, spec.OneLine(err.Error()), logTail(ctx, tc))
	}
	host, err := tc.Host(ctx)
	if err != nil {
		return c, fmt.Errorf("mosquitto container: host: %s", spec.OneLine(err.Error()))
	}
	mp, err := tc.MappedPort(ctx, DefaultPort)
	if err != nil {
		return c, fmt.Errorf("mosquitto container: mapped port: %s", spec.OneLine(err.Error()))
	}
	c.Address = "tcp://" + net.JoinHostPort(host, mp.Port())
	return c, nil
}

// Terminate stops and removes the container; nil-safe.
func (c *Container) Terminate(ctx context.Context) error {
	if c == nil || c.Container == nil {
		return nil
	}
	return c.Container.Terminate(ctx)
}

// LogText returns the broker's log so far (it never holds a username or
// password: connection messages are off and the plugin never logs them).
func (c *Container) LogText(ctx context.Context) string {
	if c == nil || c.Container == nil {
		return ""
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return string(b)
}

func logTail(ctx context.Context, c testcontainers.Container) string {
	if c == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace((&Container{Container: c}).LogText(ctx)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return "; last log lines: " + strings.Join(lines, " | ")
}
