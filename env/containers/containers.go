// Package containers holds what the Docker environments share: labels that
// mark every container and network of a run, the cleanup of leftovers from
// crashed runs, a user-defined network, Docker and image availability
// checks, and the Mosquitto configuration the broker packages write.
//
// One package per outside technology lives below it, each with the entry
// point Run(ctx, image, opts...) (*Container, error) that returns the
// container even on error so the caller can terminate it:
// env/containers/refimage and env/containers/mosquitto; env/execbroker
// runs the host's mosquitto binary (no Docker) with the same configuration.
//
// Ryuk (testcontainers' reaper image) cannot be pulled here, so Configure
// (called by every entry point before the first Docker call, never at
// import time) sets TESTCONTAINERS_RYUK_DISABLED=true unless it is set, and
// cleanup is explicit: Terminate what you start, and call Cleanup at start
// to remove what a crashed run left behind.
package containers

import (
	"context"
	"errors"
	"fmt"
	"github.com/authconform/authconform/spec"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// Labels put on every container and network this project starts.
const (
	// LabelRun names the run (RunID) that started the object.
	LabelRun = "authconform.run"
	// LabelPID is the process ID of that run; Cleanup removes objects
	// whose process is gone.
	LabelPID = "authconform.pid"
)

// Default image tags, built by `make images`.
const (
	DefaultReferenceImage = "authconform/reference:dev"
	DefaultMosquittoImage = "authconform/mosquitto:dev"
)

// ErrUnavailable is wrapped when Docker, an image, the mosquitto binary or
// the plugin is missing; the message says what to install or build.
var ErrUnavailable = errors.New("containers: unavailable")

var runID = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

var configure sync.Once

// Configure sets the testcontainers defaults this project's machines need,
// once, before the first Docker call of the process (every entry point of
// the env packages calls it; nothing happens at import time):
// TESTCONTAINERS_RYUK_DISABLED=true (Ryuk's image cannot be pulled) and
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 for a local engine. A value the
// user set is never changed.
func Configure() { configure.Do(setDefaults) }

func setDefaults() {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// Inside a container (/.dockerenv) with a local engine, testcontainers
	// reaches published ports through the bridge gateway, which this
	// project's machines do not allow; published ports are bound on the
	// host's loopback too. Set TESTCONTAINERS_HOST_OVERRIDE to change it.
	dh := os.Getenv("DOCKER_HOST")
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" && (dh == "" || strings.HasPrefix(dh, "unix://")) {
		_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
}

// RunID identifies this process's run in labels.
func RunID() string { return runID }

// Labels returns the run labels plus extra.
func Labels(extra map[string]string) map[string]string {
	l := map[string]string{LabelRun: runID, LabelPID: strconv.Itoa(os.Getpid())}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func dockerClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	Configure()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: docker: %v", ErrUnavailable, spec.OneLine(err.Error()))
	}
	return cli, nil
}

// DockerAvailable returns nil when a Docker engine answers within a few
// seconds, else an error wrapping ErrUnavailable with a one-line reason.
func DockerAvailable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w: docker engine does not answer: %s", ErrUnavailable, spec.OneLine(err.Error()))
	}
	return nil
}

// ImageAvailable returns nil when image exists locally (nothing can be
// pulled here), else an error wrapping ErrUnavailable naming the fix.
func ImageAvailable(ctx context.Context, image string) error {
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		return fmt.Errorf("%w: image %s not found locally; build it with 'make images'", ErrUnavailable, image)
	}
	return nil
}

// Cleanup removes containers and networks labelled by a run whose process
// no longer exists (a crashed or killed run). Live runs, this one included,
// are left alone. It returns how many objects it removed.
func Cleanup(ctx context.Context) (int, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", LabelRun)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("containers: cleanup: list containers: %s", spec.OneLine(err.Error()))
	}
	removed := 0
	var errs []string
	for _, c := range cs.Items {
		if !stale(c.Labels) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, spec.OneLine(err.Error()))
			continue
		}
		removed++
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("containers: cleanup: list networks: %s", spec.OneLine(err.Error()))
	}
	for _, n := range ns.Items {
		if !stale(n.Labels) {
			continue
		}
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, spec.OneLine(err.Error()))
			continue
		}
		removed++
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("containers: cleanup: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}

// stale reports whether the labels belong to another run whose process is
// gone.
func stale(labels map[string]string) bool {
	if labels[LabelRun] == runID {
		return false
	}
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return true
	}
	if pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}

// Network is a user-defined bridge network with the run labels; containers
// on it reach each other by alias.
type Network struct {
	*testcontainers.DockerNetwork
}

// NewNetwork creates a labelled user-defined network.
func NewNetwork(ctx context.Context) (*Network, error) {
	Configure()
	n, err := tcnetwork.New(ctx, tcnetwork.WithLabels(Labels(nil)))
	if err != nil {
		return nil, fmt.Errorf("containers: create network: %s", spec.OneLine(err.Error()))
	}
	return &Network{n}, nil
}

// Remove deletes the network (after its containers are gone).
func (n *Network) Remove(ctx context.Context) error {
	if n == nil || n.DockerNetwork == nil {
		return nil
	}
	return n.DockerNetwork.Remove(ctx)
}

// PluginOptions are the plugin_opt_* values of our auth plugin (names
// without the prefix, as mqttauth.ParsePluginOptions reads them). The
// setters keep the options consistent: a URL and a host/port pair never
// stand side by side.
type PluginOptions map[string]string

// SetAPI points the plugin at host:port.
func (o PluginOptions) SetAPI(host string, port int) {
	delete(o, "http_url")
	o["http_host"] = host
	o["http_port"] = strconv.Itoa(port)
}

// SetAPIURL points the plugin at a base URL instead of host and port.
func (o PluginOptions) SetAPIURL(u string) {
	delete(o, "http_host")
	delete(o, "http_port")
	o["http_url"] = u
}

// Merge sets the given values, overriding existing ones.
func (o PluginOptions) Merge(m map[string]string) {
	for k, v := range m {
		o[k] = v
	}
}

// SetFailOpen builds the mutant `--fault mqtt-fail-open`: the plugin
// ALLOWS clients when the API fails. Never in a real deployment.
func (o PluginOptions) SetFailOpen() { o["fail_open"] = "true" }

// HasAPI reports whether an API address (URL or host) is set.
func (o PluginOptions) HasAPI() bool {
	_, url := o["http_url"]
	_, host := o["http_host"]
	return url || host
}

// BrokerConfig is what a Mosquitto configuration written by this project
// says. Both the container and the exec broker use it.
type BrokerConfig struct {
	// Listener is "PORT" or "PORT ADDRESS" (mosquitto's listener line).
	Listener string
	// Plugin is the path of mosquitto_auth_http.so; empty means no plugin.
	Plugin string
	// PluginOptions are plugin_opt_* values without the prefix.
	PluginOptions map[string]string
	// PasswordFile enables Mosquitto's own password file (the bench's
	// baseline); empty means none.
	PasswordFile string
	// User is the account Mosquitto drops to when started as root
	// ("root" keeps root); empty leaves Mosquitto's default (mosquitto).
	User string
}

// MosquittoConfig renders c. Connection messages are off because
// Mosquitto would log the username, which is a device API key; logs go to
// stderr, unbuffered, and end with the line "mosquitto version X running"
// that waits match.
func MosquittoConfig(c BrokerConfig) string {
	var b strings.Builder
	b.WriteString("# written by authconform (env/containers)\n")
	b.WriteString("per_listener_settings false\n")
	fmt.Fprintf(&b, "listener %s\n", c.Listener)
	b.WriteString("allow_anonymous false\npersistence false\nconnection_messages false\n")
	b.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_timestamp true\n")
	if c.User != "" {
		fmt.Fprintf(&b, "user %s\n", c.User)
	}
	if c.PasswordFile != "" {
		fmt.Fprintf(&b, "password_file %s\n", c.PasswordFile)
	}
	if c.Plugin != "" {
		fmt.Fprintf(&b, "plugin %s\n", c.Plugin)
		keys := make([]string, 0, len(c.PluginOptions))
		for k := range c.PluginOptions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "plugin_opt_%s %s\n", k, c.PluginOptions[k])
		}
	}
	return b.String()
}

// ReadyLog matches the line Mosquitto prints once it accepts clients.
const ReadyLog = `mosquitto version [0-9.]+ running`
