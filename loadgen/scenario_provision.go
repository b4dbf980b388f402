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
}

func prepareProvision(ctx context.Context, e *env) (*plan, error) {
	if e.p.ProvisioningKeyPrefix == "" {
		return nil, fmt.Errorf("%w: provision-race needs the iotistica profile; %s has no provisioning (use --profile iotistica)", ErrUsage, e.p.Name)
	}
	create, redeem, err := provisioningPaths(e, "provision-race")
	if err != nil {
		return nil, err
	}
	lr, err := login(ctx, e, principal{"admin", e.t.Principals.Admin})
	if err != nil {
		return nil, err
	}
	auth := http.Header{"Authorization": {"Bearer " + lr.access}}
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
