// Package mqttenv provides the two environments in which the MQTT checks
// run against a real Mosquitto (framework.Env implementations):
//
//   - Exec: the reference in-process, the host's mosquitto with the plugin
//     (execbroker) on loopback, and between them a small controllable
//     proxy, so the suite can take the auth backend down, make it slow or
//     answer 5xx (MQTT-004). No Docker needed.
//   - Containers: the reference image and the Mosquitto image on one Docker
//     network, the broker reaching the reference by alias. The backend can
//     be taken down and brought back (container stop/start).
//
// Both give the target an mqtt section and implement BackendControl. The
// faults mqtt-fail-open and mqtt-sticky-refusal are applied to the broker
// (plugin options fail_open, sticky_refusals), every other fault to the
// reference.
package mqttenv

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/containers/mosquitto"
	refc "github.com/authconform/authconform/env/containers/refimage"
	"github.com/authconform/authconform/env/execbroker"
	"github.com/testcontainers/testcontainers-go"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// The mutants that live in the broker's plugin rather than in the
// reference (reference.FaultMQTTFailOpen, reference.FaultMQTTStickyRefusal).
const (
	FaultFailOpen       = reference.FaultMQTTFailOpen
	FaultStickyRefusals = reference.FaultMQTTStickyRefusal
)

// pluginFaults maps each plugin-side mutant to the plugin options that
// build it.
var pluginFaults = map[string]map[string]string{
	FaultFailOpen:       {"fail_open": "true"},
	FaultStickyRefusals: {"sticky_refusals": "true"},
}

// PluginTimeout is the plugin's http_timeout in these environments: short,
// so that the slow-backend check does not stall for long.
const PluginTimeout = time.Second

// Mode is what the auth backend does, as seen by the broker
// (framework.BackendMode, so that suites/mqtt needs no environment type).
type Mode = framework.BackendMode

// Backend modes.
const (
	Up    = framework.BackendUp
	Down  = framework.BackendDown
	Slow  = framework.BackendSlow
	Error = framework.BackendError
)

// ErrUnsupported is returned by SetBackend for a mode the environment
// cannot produce.
var ErrUnsupported = framework.ErrBackendUnsupported

// BackendControl is implemented by both environments.
type BackendControl = framework.BackendControl

// splitFaults separates the reference's faults from the plugin options
// that build the plugin-side mutants.
func splitFaults(faults []string) (ref []string, plugin map[string]string) {
	plugin = map[string]string{}
	for _, f := range faults {
		if o, ok := pluginFaults[f]; ok {
			for k, v := range o {
				plugin[k] = v
			}
			continue
		}
		ref = append(ref, f)
	}
	return ref, plugin
}

// ---- exec ----------------------------------------------------------------

// Exec is the no-Docker MQTT environment.
type Exec struct {
	profile spec.ProfileName
	faults  []string
	ref     *reference.Running
	proxy   *proxy
	broker  *execbroker.Broker
	target  *spec.Target

	mu       sync.Mutex
	deployed []*reference.Running
	variants []string
}

// ExecAvailable returns nil when mosquitto and the plugin are present.
func ExecAvailable() error { return execbroker.Available() }

// StartExec starts the exec environment for profile p (iotistica) with
// faults and conformant variants of the reference. On error everything
// started is stopped.
func StartExec(ctx context.Context, p spec.ProfileName, faults []string, variants ...string) (e *Exec, err error) {
	refFaults, pluginOpts := splitFaults(faults)
	e = &Exec{profile: p, faults: refFaults, variants: variants}
	defer func() {
		if err != nil {
			_ = e.Close()
			e = nil
		}
	}()
	if e.ref, err = reference.Start(ctx, reference.Config{Profile: p, Faults: refFaults, Variants: variants}, "127.0.0.1:0"); err != nil {
		return e, fmt.Errorf("mqttenv: reference: %w", err)
	}
	if e.proxy, err = newProxy(e.ref.URL); err != nil {
		return e, err
	}
	opts := []execbroker.Option{
		execbroker.WithAPIURL(e.proxy.url()),
		execbroker.WithPluginOptions(map[string]string{"http_timeout": PluginTimeout.String()}),
		execbroker.WithPluginOptions(pluginOpts),
	}
	if e.broker, err = execbroker.Run(ctx, "", opts...); err != nil {
		return e, err
	}
	t := *e.ref.Target
	t.MQTT = &spec.MQTT{Address: e.broker.Address}
	e.target = &t
	return e, nil
}

func (e *Exec) Name() string         { return "exec" }
func (e *Exec) Target() *spec.Target { return e.target }
func (e *Exec) CanDeploy() bool      { return true }

// Deploy starts another in-process reference (no broker) with vars.
func (e *Exec) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	r, err := reference.Start(ctx, reference.Config{Profile: e.profile, Faults: e.faults, Variants: e.variants, Env: vars}, "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("mqttenv: deploy: %w", err)
	}
	e.mu.Lock()
	e.deployed = append(e.deployed, r)
	e.mu.Unlock()
	return r.Target, func() { _ = r.Close() }, nil
}

// SetBackend switches the proxy between the broker and the reference.
func (e *Exec) SetBackend(_ context.Context, m Mode) error { return e.proxy.set(m) }

// BrokerLogs is the broker's log (no secrets).
func (e *Exec) BrokerLogs() string { return e.broker.Logs() }

// Close stops the broker, the proxy and the references.
func (e *Exec) Close() error {
	if e == nil {
		return nil
	}
	_ = e.broker.Terminate(context.Background())
	if e.proxy != nil {
		e.proxy.close()
	}
	e.mu.Lock()
	for _, d := range e.deployed {
		_ = d.Close()
	}
	e.mu.Unlock()
	if e.ref != nil {
		return e.ref.Close()
	}
	return nil
}

// proxy forwards the plugin's calls to the reference, or misbehaves.
type proxy struct {
	addr string
	rp   *httputil.ReverseProxy

	mu   sync.Mutex
	mode Mode
	srv  *http.Server
}

func newProxy(target string) (*proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &proxy{rp: httputil.NewSingleHostReverseProxy(u), mode: Up}
	p.rp.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	p.rp.ErrorLog = log.New(io.Discard, "", 0) // the slow mode cancels requests on purpose
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mqttenv: proxy: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

func (p *proxy) url() string { return "http://" + p.addr }

func (p *proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 5 * time.Second}
	p.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (p *proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	m := p.mode
	p.mu.Unlock()
	switch m {
	case Slow:
		select {
		case <-time.After(PluginTimeout + 2*time.Second):
		case <-r.Context().Done():
			return
		}
	case Error:
		http.Error(w, "backend failing on purpose (MQTT-004)", http.StatusServiceUnavailable)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *proxy) set(m Mode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch m {
	case Up, Slow, Error:
		if p.srv == nil { // coming back from Down: listen on the same port
			var ln net.Listener
			var err error
			for i := 0; i < 50; i++ {
				if ln, err = net.Listen("tcp", p.addr); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				return fmt.Errorf("mqttenv: proxy: listen again on %s: %v", p.addr, err)
			}
			p.serve(ln)
		}
	case Down:
		if p.srv != nil {
			_ = p.srv.Close() // listener and every keep-alive connection
			p.srv = nil
		}
	default:
		return fmt.Errorf("%w: %q", ErrUnsupported, m)
	}
	p.mode = m
	if m == Down {
		p.mode = Up // what it does once it listens again
	}
	return nil
}

func (p *proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		_ = p.srv.Close()
		p.srv = nil
	}
}

// ---- containers ----------------------------------------------------------

// Containers is the Docker MQTT environment.
type Containers struct {
	profile  spec.ProfileName
	faults   []string
	refImage string
	nw       *containers.Network
	ref      *refc.Container
	mq       *mosquitto.Container
	target   *spec.Target

	mu       sync.Mutex
	deployed []*refc.Container
}

// ContainersAvailable returns nil when Docker answers and both images
// exist locally.
func ContainersAvailable(ctx context.Context, refImage, mqImage string) error {
	if err := containers.DockerAvailable(ctx); err != nil {
		return err
	}
	if err := containers.ImageAvailable(ctx, refImage); err != nil {
		return err
	}
	return containers.ImageAvailable(ctx, mqImage)
}

// StartContainers removes leftovers of crashed runs, then starts the
// network, the reference (refImage, "" = default) and Mosquitto (mqImage).
// On error everything started is removed.
func StartContainers(ctx context.Context, p spec.ProfileName, faults []string, refImage, mqImage string) (c *Containers, err error) {
	if refImage == "" {
		refImage = containers.DefaultReferenceImage
	}
	if mqImage == "" {
		mqImage = containers.DefaultMosquittoImage
	}
	refFaults, pluginOpts := splitFaults(faults)
	c = &Containers{profile: p, faults: refFaults, refImage: refImage}
	defer func() {
		if err != nil {
			_ = c.Close()
			c = nil
		}
	}()
	_, _ = containers.Cleanup(ctx)
	if c.nw, err = containers.NewNetwork(ctx); err != nil {
		return c, err
	}
	c.ref, err = refc.Run(ctx, refImage, refc.WithNetwork(c.nw), refc.WithProfile(p), refc.WithFaults(refFaults...))
	if err != nil {
		return c, err
	}
	mopts := []testcontainers.ContainerCustomizer{
		mosquitto.WithNetwork(c.nw),
		mosquitto.WithAPI(refc.DefaultAlias, 8080),
		mosquitto.WithPluginOptions(map[string]string{"http_timeout": PluginTimeout.String()}),
		mosquitto.WithPluginOptions(pluginOpts),
	}
	if c.mq, err = mosquitto.Run(ctx, mqImage, mopts...); err != nil {
		return c, err
	}
	t := *c.ref.Target
	t.MQTT = &spec.MQTT{Address: c.mq.Address}
	c.target = &t
	return c, nil
}

func (c *Containers) Name() string         { return "containers" }
func (c *Containers) Target() *spec.Target { return c.target }
func (c *Containers) CanDeploy() bool      { return true }

// Deploy starts another reference container with the deployment vars.
func (c *Containers) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	r, err := refc.Run(ctx, c.refImage, refc.WithProfile(c.profile), refc.WithFaults(c.faults...), testcontainers.WithEnv(vars))
	if err != nil {
		_ = r.Terminate(context.Background())
		return nil, nil, err
	}
	c.mu.Lock()
	c.deployed = append(c.deployed, r)
	c.mu.Unlock()
	return r.Target, func() { _ = r.Terminate(context.Background()) }, nil
}

// SetBackend stops (Down) or starts (Up) the reference container; Slow and
// Error are not available here.
func (c *Containers) SetBackend(ctx context.Context, m Mode) error {
	switch m {
	case Down:
		d := 2 * time.Second
		return c.ref.Stop(ctx, &d)
	case Up:
		if st, err := c.ref.State(ctx); err == nil && st.Running {
			return nil
		}
		if err := c.ref.Start(ctx); err != nil {
			return err
		}
		// A restarted container gets a new host port; the broker still
		// reaches it by alias. Keep the target's URL current.
		host, err := c.ref.Host(ctx)
		if err != nil {
			return err
		}
		mp, err := c.ref.MappedPort(ctx, refc.DefaultPort)
		if err != nil {
			return err
		}
		c.ref.URL = "http://" + net.JoinHostPort(host, mp.Port())
		c.target.BaseURL = c.ref.URL
		return nil
	}
	return fmt.Errorf("%w: %q in the containers environment", ErrUnsupported, m)
}

// BrokerLogs is the broker's log (no secrets).
func (c *Containers) BrokerLogs() string { return c.mq.LogText(context.Background()) }

// Close removes every container and the network.
func (c *Containers) Close() error {
	if c == nil {
		return nil
	}
	ctx := context.Background()
	var errs []string
	c.mu.Lock()
	for _, d := range c.deployed {
		if err := d.Terminate(ctx); err != nil {
			errs = append(errs, err.Error())
		}
	}
	c.mu.Unlock()
	if err := c.mq.Terminate(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.ref.Terminate(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.nw.Remove(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("mqttenv: close: %s", strings.Join(errs, "; "))
	}
	return nil
}
