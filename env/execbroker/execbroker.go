// Package execbroker starts the host's mosquitto binary with the
// authconform auth plugin on a free loopback port: the MQTT environment
// when Docker is absent (--env exec), and the bench's low-noise broker.
//
//	b, err := execbroker.Run(ctx, "", execbroker.WithAPIURL(ref.URL))
//	defer b.Terminate(ctx) // non-nil even when err is not
//	// b.Address is tcp://127.0.0.1:PORT
//
// Without a plugin and with WithPasswords it is a plain Mosquitto with its
// own password_file (the bench's baseline). The broker is killed if this
// process dies (Pdeathsig), and its files live in a temporary directory
// removed by Terminate.
package execbroker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authconform/authconform/env/containers"
)

// Defaults.
const (
	DefaultStartupTimeout = 10 * time.Second
	// PluginEnv overrides where the plugin is looked for.
	PluginEnv = "AUTHCONFORM_PLUGIN"
	// PluginName is the file `make plugin` writes into bin/.
	PluginName = "mosquitto_auth_http.so"
)

type settings struct {
	plugin         string
	noPlugin       bool
	pluginOpts     containers.PluginOptions
	passwords      map[string]string
	startupTimeout time.Duration
}

// Option configures Run.
type Option func(*settings)

// WithPlugin sets the plugin path (default: FindPlugin).
func WithPlugin(path string) Option { return func(s *settings) { s.plugin = path } }

// WithoutPlugin starts Mosquitto without the auth plugin.
func WithoutPlugin() Option { return func(s *settings) { s.noPlugin = true } }

// WithAPIURL points the plugin at the API's base URL (http://host:port).
func WithAPIURL(u string) Option {
	return func(s *settings) { s.pluginOpts.SetAPIURL(u) }
}

// WithPluginOptions sets plugin_opt_* values (names without the prefix).
func WithPluginOptions(o map[string]string) Option {
	return func(s *settings) { s.pluginOpts.Merge(o) }
}

// WithFailOpen builds the mutant `--fault mqtt-fail-open`.
func WithFailOpen() Option { return func(s *settings) { s.pluginOpts.SetFailOpen() } }

// WithPasswords writes a Mosquitto password_file (mosquitto_passwd) with
// these username/password pairs and enables it.
func WithPasswords(p map[string]string) Option {
	return func(s *settings) {
		if s.passwords == nil {
			s.passwords = map[string]string{}
		}
		for k, v := range p {
			s.passwords[k] = v
		}
	}
}

// WithStartupTimeout bounds the wait for readiness.
func WithStartupTimeout(d time.Duration) Option { return func(s *settings) { s.startupTimeout = d } }

// Broker is a running mosquitto process.
type Broker struct {
	// Address is tcp://127.0.0.1:PORT.
	Address string
	// Config is the mosquitto.conf it runs with.
	Config string

	cmd  *exec.Cmd
	dir  string
	log  *logBuffer
	done chan struct{}
	once sync.Once
}

// FindBinary returns the mosquitto binary: binary if set, else mosquitto
// on PATH, else /usr/sbin/mosquitto. The error wraps
// containers.ErrUnavailable and says what to install.
func FindBinary(binary string) (string, error) {
	if binary != "" {
		if _, err := os.Stat(binary); err != nil {
			return "", fmt.Errorf("%w: mosquitto binary %s not found", containers.ErrUnavailable, binary)
		}
		return binary, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("%w: mosquitto not installed; apt-get install -y mosquitto", containers.ErrUnavailable)
}

// FindPlugin returns the plugin: $AUTHCONFORM_PLUGIN, else
// bin/mosquitto_auth_http.so in the module root above the working
// directory. The error wraps containers.ErrUnavailable and names the fix.
func FindPlugin() (string, error) {
	if p := os.Getenv(PluginEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s does not exist; run 'make plugin'", containers.ErrUnavailable, PluginEnv, p)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", containers.ErrUnavailable, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", PluginName)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%w: plugin %s not built; run 'make plugin' (needs mosquitto-dev and gcc)", containers.ErrUnavailable, p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: plugin not found (no go.mod above the working directory); set %s", containers.ErrUnavailable, PluginEnv)
		}
		dir = parent
	}
}

// Available returns nil when the mosquitto binary and the plugin exist.
func Available() error {
	if _, err := FindBinary(""); err != nil {
		return err
	}
	_, err := FindPlugin()
	return err
}

var readyRE = regexp.MustCompile(containers.ReadyLog)

// Run starts binary ("" finds it) with opts on a free 127.0.0.1 port. The
// returned Broker is non-nil whenever a process or directory was created.
func Run(ctx context.Context, binary string, opts ...Option) (*Broker, error) {
	s := settings{pluginOpts: map[string]string{"http_timeout": "2"}, startupTimeout: DefaultStartupTimeout}
	for _, o := range opts {
		o(&s)
	}
	bin, err := FindBinary(binary)
	if err != nil {
		return nil, err
	}
	if !s.noPlugin && s.plugin == "" {
		if s.plugin, err = FindPlugin(); err != nil {
			return nil, err
		}
	}
	if !s.noPlugin {
		if !s.pluginOpts.HasAPI() {
			return nil, errors.New("execbroker: no API address; use WithAPIURL or WithPluginOptions with http_host/http_port")
		}
	}
	dir, err := os.MkdirTemp("", "authconform-mosquitto-")
	if err != nil {
		return nil, fmt.Errorf("execbroker: %v", err)
	}
	b := &Broker{dir: dir, done: make(chan struct{})}
	cfg := containers.BrokerConfig{}
	if !s.noPlugin {
		cfg.Plugin, cfg.PluginOptions = s.plugin, s.pluginOpts
	}
	if os.Geteuid() == 0 {
		// Keep root rather than dropping to "mosquitto", which may not be
		// able to read the plugin or the temporary files.
		cfg.User = "root"
	}
	if len(s.passwords) > 0 {
		cfg.PasswordFile = filepath.Join(dir, "passwd")
		if err := writePasswords(ctx, cfg.PasswordFile, s.passwords); err != nil {
			b.cleanupDir()
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			b.cleanupDir()
			return nil, err
		}
		cfg.Listener = strconv.Itoa(port) + " 127.0.0.1"
		b.Config = containers.MosquittoConfig(cfg)
		b.Address = "tcp://127.0.0.1:" + strconv.Itoa(port)
		lastErr = b.start(ctx, bin, port, s.startupTimeout)
		if lastErr == nil {
			return b, nil
		}
		if !strings.Contains(b.log.String(), "Address already in use") {
			break
		}
	}
	return b, lastErr
}

func (b *Broker) start(ctx context.Context, bin string, port int, timeout time.Duration) error {
	conf := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(b.Config), 0o644); err != nil {
		return fmt.Errorf("execbroker: %v", err)
	}
	b.log = &logBuffer{}
	b.done = make(chan struct{})
	b.once = sync.Once{}
	cmd := exec.Command(bin, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("execbroker: %v", err)
	}
	cmd.Stdout = b.log
	ready := make(chan struct{})
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("execbroker: start %s: %v", bin, err)
	}
	b.cmd = cmd
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			b.log.WriteString(line + "\n")
			if !signalled && readyRE.MatchString(line) {
				close(ready)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(b.done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-b.done:
		return fmt.Errorf("execbroker: mosquitto exited during start-up: %s", lastLines(b.log.String(), 3))
	case <-t.C:
		b.kill()
		return fmt.Errorf("execbroker: mosquitto not ready after %s: %s", timeout, lastLines(b.log.String(), 3))
	case <-ctx.Done():
		b.kill()
		return ctx.Err()
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		b.kill()
		return fmt.Errorf("execbroker: port %d not answering: %v", port, err)
	}
	_ = c.Close()
	return nil
}

func (b *Broker) kill() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// Logs returns the broker's log so far (no usernames or passwords:
// connection messages are off and the plugin never logs them).
func (b *Broker) Logs() string {
	if b == nil || b.log == nil {
		return ""
	}
	return b.log.String()
}

// Exited is closed when the process ends.
func (b *Broker) Exited() <-chan struct{} { return b.done }

// Terminate stops the broker (SIGTERM, then SIGKILL after 5 s) and removes
// its directory; nil-safe and idempotent.
func (b *Broker) Terminate(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.once.Do(func() {
		if b.cmd != nil && b.cmd.Process != nil {
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.done:
			case <-time.After(5 * time.Second):
				b.kill()
			case <-ctx.Done():
				b.kill()
			}
		}
		b.cleanupDir()
	})
	return nil
}

func (b *Broker) cleanupDir() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// writePasswords builds a password_file with mosquitto_passwd -b (the
// passwords pass through argv of a short-lived local process only).
func writePasswords(ctx context.Context, path string, pw map[string]string) error {
	tool, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		return fmt.Errorf("%w: mosquitto_passwd not found; apt-get install -y mosquitto", containers.ErrUnavailable)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return fmt.Errorf("execbroker: %v", err)
	}
	for u, p := range pw {
		if strings.ContainsAny(u, ":\n") {
			return fmt.Errorf("execbroker: password file: a username contains ':' or a newline")
		}
		out, err := exec.CommandContext(ctx, tool, "-b", path, u, p).CombinedOutput()
		if err != nil {
			// The output can echo the username; report only the exit.
			_ = out
			return fmt.Errorf("execbroker: mosquitto_passwd failed: %v", err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("execbroker: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) WriteString(s string) { _, _ = l.Write([]byte(s)) }

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
