package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// refresh: refresh chains, each with its newest token.

var refreshScenario = &Scenario{
	Name: "refresh", Help: "the refresh endpoint, refresh chains with their newest token",
	Needs: spec.CapLogin, Expect: "success = 2xx", Success: success2xx,
	Prepare: prepareRefresh,
}

// chain is one refresh session: the token to present next. Refreshes of a
// chain are strictly sequential, because a rotating refresh token may be
// used once (iotistica revokes the family on reuse, JWT-011).
type chain struct {
	id  int
	mu  sync.Mutex
	tok string
}

func prepareRefresh(ctx context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "refresh"); err != nil {
		return nil, err
	}
	if e.p.Login.RefreshPath == "" {
		return nil, fmt.Errorf("%w: refresh: the %s profile has no refresh endpoint (use --profile roboticks or iotistica)", ErrUsage, e.p.Name)
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	const perPrincipal = 4
	var chains []*chain
	for i := 0; i < perPrincipal*len(ps); i++ {
		lr, err := login(ctx, e, ps[i%len(ps)])
		if err != nil {
			return nil, err
		}
		tok := lr.access
		if e.p.Login.RefreshStyle == spec.RefreshBodyToken {
			tok = lr.refresh
		}
		chains = append(chains, &chain{id: i, tok: tok})
	}
	free := make(chan *chain, len(chains))
	for _, c := range chains {
		free <- c
	}
	style := e.p.Login.RefreshStyle
	url := e.url(e.p.Login.RefreshPath)
	bodyField := e.p.Login.RefreshBodyIn
	nextField := e.p.Login.AccessField
	if style == spec.RefreshBodyToken {
		nextField = e.p.Login.RefreshField
	}
	done := make(chan struct{})
	targeter := func(t *vegeta.Target) error {
		c, err := takeFree(free, done)
		if err != nil {
			return err
		}
		c.mu.Lock()
		tok := c.tok
		c.mu.Unlock()
		*t = vegeta.Target{Method: http.MethodPost, URL: fmt.Sprintf("%s#c=%d", url, c.id), Header: http.Header{}}
		if style == spec.RefreshBodyToken {
			t.Body, _ = json.Marshal(map[string]string{bodyField: tok})
			t.Header.Set("Content-Type", "application/json")
		} else {
			t.Header.Set("Authorization", "Bearer "+tok)
		}
		return nil
	}
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			var c *chain
			var id int
			if _, err := fmt.Sscanf(req.URL.Fragment, "c=%d", &id); err == nil && id >= 0 && id < len(chains) {
				c = chains[id]
			}
			resp, err := next.RoundTrip(req)
			if c == nil {
				return resp, err
			}
			defer func() { free <- c }()
			if err != nil || resp.StatusCode/100 != 2 {
				return resp, err
			}
			// bounded here too (the attacker's transport caps it as well):
			// a token answer is small, an endless body must not be read
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			if rerr != nil {
				return resp, nil
			}
			var out map[string]any
			if json.Unmarshal(b, &out) == nil {
				if s, ok := out[nextField].(string); ok && s != "" {
					c.mu.Lock()
					c.tok = s
					c.mu.Unlock()
				}
			}
			return resp, nil
		})
	}
	return &plan{targeter: targeter, transport: wrap, close: func() { close(done) }, notes: []string{
		fmt.Sprintf("%d refresh chains (%d logins); each chain refreshes sequentially with its newest token, so at most %d refreshes are in flight", len(chains), len(chains), len(chains)),
		"a request that waits for a free chain counts the wait in its latency (vegeta stamps a request before asking the targeter)",
	}}, nil
}
