// Command benchmqtt is `make bench-mqtt`: the MQTT CONNECT rate of
// Mosquitto authenticating with the authconform plugin + the reference
// (iotistica) against the same Mosquitto with its own password_file, in
// one run. Both brokers are the host's mosquitto started on 127.0.0.1
// (env/execbroker), not containers: loopback without
// docker-proxy and NAT is less noisy. Each case runs paho.mqtt.golang
// (MQTT 3.1.1) clients that CONNECT, wait for CONNACK and DISCONNECT in a
// loop for a fixed time, in alternating short rounds (password_file,
// plugin, password_file, ...) so that load from elsewhere on the machine
// hits both alike. The last line is `ratio X.XX`: the geometric
// mean over the client counts of plugin rate / password_file rate.
//
// After measuring, it revokes one device key through the API and checks
// that the very next CONNECT is refused: the speed does not come from a
// cache that would delay revocation.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/authconform/authconform/spec"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/authconform/authconform/env/execbroker"
)

type device struct{ uuid, key, password string }

func main() {
	os.Exit(run())
}

func run() int {
	authconform := flag.String("authconform", "bin/authconform", "authconform binary that serves the reference")
	plugin := flag.String("plugin", "bin/mosquitto_auth_http.so", "the Mosquitto auth plugin")
	dur := flag.Duration("duration", 3*time.Second, "measuring time per case")
	clientsFlag := flag.String("clients", "1,8", "comma-separated client counts")
	flag.Parse()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "bench-mqtt: "+format+"\n", a...)
		return 1
	}
	var counts []int
	for _, s := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			fmt.Fprintf(os.Stderr, "bench-mqtt: -clients: %q is not a list of counts 1..64\n", *clientsFlag)
			return 2
		}
		counts = append(counts, n)
	}
	if *dur < 500*time.Millisecond || *dur > time.Minute {
		fmt.Fprintln(os.Stderr, "bench-mqtt: -duration: want 500ms..1m")
		return 2
	}
	maxClients := 0
	for _, n := range counts {
		maxClients = max(maxClients, n)
	}
	ctx := context.Background()

	// The reference, as its own process (as in a deployment).
	refURL, stopRef, err := startReference(*authconform)
	if err != nil {
		return fail("%v", err)
	}
	defer stopRef()
	devs, admin, err := provision(refURL, maxClients)
	if err != nil {
		return fail("provision devices: %v", err)
	}

	passwords := map[string]string{}
	for _, d := range devs {
		passwords[d.key] = d.password
	}
	pf, err := execbroker.Run(ctx, "", execbroker.WithoutPlugin(), execbroker.WithPasswords(passwords))
	defer pf.Terminate(ctx)
	if err != nil {
		return fail("password_file broker: %v", err)
	}
	pl, err := execbroker.Run(ctx, "", execbroker.WithPlugin(*plugin), execbroker.WithAPIURL(refURL))
	defer pl.Terminate(ctx)
	if err != nil {
		return fail("plugin broker: %v", err)
	}

	fmt.Printf("bench-mqtt: CONNECT+CONNACK+DISCONNECT per second, paho.mqtt.golang MQTT 3.1.1, %s per case\n", *dur)
	fmt.Printf("bench-mqtt: brokers: host mosquitto (%s) on 127.0.0.1 via exec, not containers (less noise)\n", mosquittoVersion())
	fmt.Printf("bench-mqtt: (a) password_file (mosquitto_passwd)  (b) plugin -> reference (iotistica) on 127.0.0.1\n")
	// Warm both (plugin keep-alive pool, page cache).
	measure(pf.Address, devs, 1, 300*time.Millisecond)
	measure(pl.Address, devs, 1, 300*time.Millisecond)
	logSum := 0.0
	for _, n := range counts {
		// Alternate short rounds so that load from elsewhere on the
		// machine hits both brokers alike.
		var a, b result
		for r := 0; r < rounds; r++ {
			a.add(measure(pf.Address, devs, n, *dur/rounds))
			b.add(measure(pl.Address, devs, n, *dur/rounds))
		}
		if a.fail > 0 || b.fail > 0 || a.ok == 0 || b.ok == 0 {
			return fail("clients=%d: refused valid connects: password_file %d, plugin %d (first error: %v)", n, a.fail, b.fail, errors.Join(a.err, b.err))
		}
		r := b.rate() / a.rate()
		logSum += math.Log(r)
		fmt.Printf("clients=%-2d  password_file %7.0f/s   plugin+reference %7.0f/s   plugin/password_file %.2f\n", n, a.rate(), b.rate(), r)
	}

	// Revocation is immediate: revoke device 0, the next CONNECT is refused.
	if err := revoke(refURL, admin, devs[0].uuid); err != nil {
		return fail("revoke: %v", err)
	}
	if err := connect(pl.Address, devs[0], 5*time.Second); err == nil {
		return fail("revoked device key still ACCEPTED on the next CONNECT")
	}
	fmt.Println("revocation: the CONNECT right after revoking the key was refused (no cache)")
	fmt.Printf("ratio %.2f\n", math.Exp(logSum/float64(len(counts))))
	return 0
}

type result struct {
	ok, fail int64
	elapsed  time.Duration
	err      error
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r *result) add(o result) {
	r.ok += o.ok
	r.fail += o.fail
	r.elapsed += o.elapsed
	if r.err == nil {
		r.err = o.err
	}
}

// rounds is how many alternating rounds split each case's duration.
const rounds = 6

func measure(addr string, devs []device, clients int, d time.Duration) result {
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(dv device) {
			defer wg.Done()
			for time.Now().Before(end) {
				if err := connect(addr, dv, 5*time.Second); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}(devs[i%len(devs)])
	}
	wg.Wait()
	r := result{ok: ok.Load(), fail: failed.Load(), elapsed: time.Since(start)}
	if e, _ := firstErr.Load().(error); e != nil {
		r.err = e
	}
	return r
}

func connect(addr string, d device, timeout time.Duration) error {
	o := paho.NewClientOptions().AddBroker(addr).SetClientID("agent-" + d.uuid).
		SetUsername(d.key).SetPassword(d.password).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetCleanSession(true).
		SetConnectTimeout(timeout).SetKeepAlive(60 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout) {
		return errors.New("no CONNACK in time")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.Disconnect(0)
	return nil
}

func mosquittoVersion() string {
	out, _ := exec.Command("mosquitto", "-h").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(strings.TrimPrefix(line, "mosquitto "))
}

// startReference runs `authconform reference --profile iotistica` on a
// free loopback port and waits until it answers.
func startReference(bin string) (string, func(), error) {
	if _, err := os.Stat(bin); err != nil {
		return "", func() {}, fmt.Errorf("%s not found; run 'make build'", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", func() {}, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "reference", "--profile", string(mqttProfile()), "--addr", addr, "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return "", func() {}, err
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _, _ = cmd.Process.Wait() }
	url := "http://" + addr
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return url, stop, nil
		}
	}
	stop()
	return "", func() {}, fmt.Errorf("reference not answering on %s: %s", addr, strings.TrimSpace(stderr.String()))
}

func call(method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d", method, strings.TrimPrefix(url, "http://"), resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// provision logs in as the fixtures' admin and provisions n devices, each
// with its own clientId agent-{uuid}, key and MQTT password.
func provision(url string, n int) ([]device, string, error) {
	prof := spec.MustGet(mqttProfile())
	create, redeem, ok := prof.ProvisioningPaths()
	if !ok || prof.Login == nil {
		return nil, "", fmt.Errorf("profile %s has no provisioning or no login", prof.Name)
	}
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if err := call("POST", url+prof.BasePath+prof.Login.Path, "", map[string]string{"email": "user@example.com", "password": "your-password"}, &login); err != nil {
		return nil, "", err
	}
	var devs []device
	for i := 0; i < n; i++ {
		var pk struct {
			Key string `json:"key"`
		}
		if err := call("POST", url+prof.BasePath+create, login.AccessToken, map[string]any{}, &pk); err != nil {
			return nil, "", err
		}
		var ag struct {
			APIKey       string `json:"apiKey"`
			AgentUUID    string `json:"agentUuid"`
			MQTTPassword string `json:"mqttPassword"`
		}
		if err := call("POST", url+prof.BasePath+redeem, "", map[string]string{"key": pk.Key, "agentName": "bench-" + strconv.Itoa(i)}, &ag); err != nil {
			return nil, "", err
		}
		devs = append(devs, device{uuid: ag.AgentUUID, key: ag.APIKey, password: ag.MQTTPassword})
	}
	return devs, login.AccessToken, nil
}

func revoke(url, token, agent string) error {
	var keys []struct {
		ID        string `json:"id"`
		AgentUUID string `json:"agentUuid"`
	}
	prof := spec.MustGet(mqttProfile())
	if prof.Keys == nil || prof.Keys.List == "" || prof.Keys.Delete == "" {
		return fmt.Errorf("profile %s lists or deletes no keys", prof.Name)
	}
	if err := call("GET", url+prof.BasePath+prof.Keys.List, token, nil, &keys); err != nil {
		return err
	}
	for _, k := range keys {
		if k.AgentUUID == agent {
			return call("DELETE", url+prof.BasePath+prof.Keys.Delete+"/"+k.ID, token, nil, nil)
		}
	}
	return fmt.Errorf("no key listed for agent %s", agent)
}

// mqttProfile is the first built-in profile whose devices authenticate at
// an MQTT broker.
func mqttProfile() spec.ProfileName {
	for _, n := range spec.AllProfiles {
		if spec.MustGet(n).Can(spec.CapMQTT) {
			return n
		}
	}
	return spec.AllProfiles[len(spec.AllProfiles)-1]
}
