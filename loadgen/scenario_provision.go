package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// provision-race: redemptions race for every provisioning key.

var provisionRace = &Scenario{
	Name: "provision-race", Help: "8 redemptions race for every provisioning key (profiles with provisioning)",
	Needs:  spec.CapProvisioning,
	Expect: "success = 2xx or 4xx; exactly one 2xx per provisioning key is in provision",
	// Exactly one redemption per key succeeds; the others must be
	// refused with 401 (or 403/409 when the implementation says so).
	Success: func(r *vegeta.Result) (bool, string) {
		return r.Code >= 200 && r.Code < 500, "2xx, or 4xx for a used key"
	},
	// 5 s x 80/s = 50 keys: 50 devices, well under the default
	// license's maxDevices (100)
	Defaults: Defaults{Rate: func(*spec.Target) float64 { return 80 }},
	Prepare:  prepareProvision,
	// each request names its key in the URL fragment (#k=N, never sent)
	Analyze: func(Label) analysis { return &provisionAnalyzer{keys: map[provKeyID]*provKey{}} },
}

// ProvisionReport is the single-use property of provisioning keys under a
// redemption race (PROV-004): each key must be redeemed exactly once.
type ProvisionReport struct {
	Keys          int `json:"keys"`
	RedeemedOnce  int `json:"redeemedOnce"`
	MultiRedeemed int `json:"multiRedeemed"`
	NeverRedeemed int `json:"neverRedeemed"`
	// Forbidden counts 403s (license maxDevices reached: SPEC LIC-001).
	Forbidden int `json:"forbidden"`
}

type provKey struct{ ok, total int }

// provKeyID is one key of one attack: key indexes restart in every shard.
type provKeyID struct {
	attack int
	key    string
}

type provisionAnalyzer struct {
	keys      map[provKeyID]*provKey
	forbidden int
}

func (a *provisionAnalyzer) add(attack int, r *vegeta.Result) {
	frag := fragment(r.URL)
	if frag == "" {
		return
	}
	id := provKeyID{attack, frag}
	k := a.keys[id]
	if k == nil {
		k = &provKey{}
		a.keys[id] = k
	}
	k.total++
	if r.Code >= 200 && r.Code < 300 {
		k.ok++
	}
	if r.Code == 403 {
		a.forbidden++
	}
}

func (a *provisionAnalyzer) into(rep *Report) { rep.Provision = a.report() }

func (a *provisionAnalyzer) report() *ProvisionReport {
	rep := &ProvisionReport{Keys: len(a.keys), Forbidden: a.forbidden}
	for _, k := range a.keys {
		switch {
		case k.ok == 1:
			rep.RedeemedOnce++
		case k.ok > 1:
			rep.MultiRedeemed++
		default:
			rep.NeverRedeemed++
		}
	}
	return rep
}

func prepareProvision(ctx context.Context, e *env) (*plan, error) {
	if e.p.ProvisioningKeyPrefix == "" {
		return nil, fmt.Errorf("%w: provision-race needs the iotistica profile; %s has no provisioning (use --profile iotistica)", ErrUsage, e.p.Name)
	}
	create, redeem, auth, err := provisioningAdmin(ctx, e, "provision-race")
	if err != nil {
		return nil, err
	}
	n := int(e.pace.Planned())/DefaultRacers + 2
	if n > 5000 {
		return nil, fmt.Errorf("%w: provision-race would need %d provisioning keys; lower --rate or --duration (at most %d requests)", ErrUsage, n, 5000*DefaultRacers)
	}
	keys := make([]string, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 8)
	for i := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var out struct {
				Key string `json:"key"`
			}
			resp, err := e.do(ctx, http.MethodPost, create, auth, map[string]any{}, &out)
			if err == nil && (resp.StatusCode/100 != 2 || out.Key == "") {
				err = fmt.Errorf("%w: creating a provisioning key got %d", ErrUsage, resp.StatusCode)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			keys[i] = out.Key
		}(i)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	// The racers of one key leave together (a bursty pace), so the
	// redemptions really overlap whatever the rate.
	var i atomic.Uint64
	url := e.url(redeem)
	targeter := func(t *vegeta.Target) error {
		j := i.Add(1) - 1
		k := int(j / DefaultRacers)
		if k >= len(keys) {
			return vegeta.ErrNoTargets
		}
		body, _ := json.Marshal(map[string]string{"key": keys[k], "agentName": fmt.Sprintf("load-%d-%d-%d", e.shard.Index, k, j%DefaultRacers)})
		*t = vegeta.Target{Method: http.MethodPost, URL: fmt.Sprintf("%s#k=%d", url, k), Body: body, Header: http.Header{"Content-Type": {"application/json"}}}
		return nil
	}
	return &plan{targeter: targeter, burst: DefaultRacers, notes: []string{
		fmt.Sprintf("%d provisioning keys, %d consecutive redemptions race for each; exactly one per key may succeed", n, DefaultRacers),
		fmt.Sprintf("requests leave in bursts of %d, one burst per key (the pace's plan follows the bursts)", DefaultRacers),
		"each successful redemption registers a device: a license's maxDevices turns later ones into 403 (counted as forbidden)",
	}}, nil
}
