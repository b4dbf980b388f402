package apikeys

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// Timing check parameters (KEY-006).
const (
	// TimingSamplesPerClass × len(TimingShared) >= 10^4 interleaved samples.
	TimingSamplesPerClass = 3400
	// TimingWarmup requests are sent first and not measured.
	TimingWarmup = 500
	// TimingThreshold is the |t| above which a leak is reported; dudect
	// reads |t| > 4.5 as "probably not constant time".
	TimingThreshold = 4.5
	// TimingCropPercentile: besides the raw samples, the test is repeated
	// on the samples below this pooled percentile (dudect's cropping, which
	// removes scheduler and GC outliers that hide small differences).
	TimingCropPercentile = 0.90
	// TimingBudget bounds the measurement.
	TimingBudget = 4 * time.Minute
)

// TimingShared are the numbers of leading characters (after the public
// prefix) that the invalid keys of each class share with the real key.
var TimingShared = []int{0, 8, 16}

// welch returns Welch's t statistic of two samples.
func welch(a, b []float64) float64 {
	ma, va := meanVar(a)
	mb, vb := meanVar(b)
	den := math.Sqrt(va/float64(len(a)) + vb/float64(len(b)))
	if den == 0 {
		return 0
	}
	return (ma - mb) / den
}

func meanVar(x []float64) (mean, variance float64) {
	if len(x) < 2 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := v - mean
		variance += d * d
	}
	return mean, variance / float64(len(x)-1)
}

// below returns the values of x under the threshold.
func below(x []float64, th float64) []float64 {
	out := make([]float64, 0, len(x))
	for _, v := range x {
		if v < th {
			out = append(out, v)
		}
	}
	return out
}

// percentile of the pooled samples (q in 0..1).
func percentile(classes [][]float64, q float64) float64 {
	var all []float64
	for _, c := range classes {
		all = append(all, c...)
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[int(q*float64(len(all)-1))]
}

// nearMiss returns an invalid key of the same length as real that shares
// exactly shared characters after prefix with it.
func nearMiss(real, prefix string, shared int) string {
	const alphabet = spec.Base62Alphabet
	body := real[len(prefix):]
	b := []byte(body[:shared])
	// The next character differs from the real key's.
	for {
		ch := alphabet[rand.IntN(len(alphabet))]
		if ch != body[shared] {
			b = append(b, ch)
			break
		}
	}
	for len(b) < len(body) {
		b = append(b, alphabet[rand.IntN(len(alphabet))])
	}
	return prefix + string(b)
}

// timingProbe is one KEY-006 measurement: invalid keys are sent to URL in
// Header as ValuePrefix+key, near misses of Real after Prefix.
type timingProbe struct {
	URL, Header, ValuePrefix string
	Real, Prefix             string
	PerClass, Warmup         int
}

// timingResult is what a probe measured.
type timingResult struct {
	Summary string
	// Worst is the largest |t| over every pair of classes, raw and cropped.
	Worst float64
	// Other counts responses that were not 401 (status -> count).
	Other map[int]int
}

// measure runs the probe on one keep-alive connection (so no dial is in
// any sample), classes interleaved in random order, and returns Welch's t
// for every pair of classes. It stops with an error when ctx ends.
func (p timingProbe) measure(ctx context.Context) (timingResult, error) {
	tp := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tp.CloseIdleConnections()
	hc := framework.NewHTTPClient(tp, framework.DefaultTimeout)
	send := func(key string) (time.Duration, int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set(p.Header, p.ValuePrefix+key)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, framework.MaxBody))
		resp.Body.Close()
		return time.Since(start), resp.StatusCode, nil
	}
	res := timingResult{Other: map[int]int{}}
	for i := 0; i < p.Warmup; i++ {
		if _, _, err := send(nearMiss(p.Real, p.Prefix, TimingShared[i%len(TimingShared)])); err != nil {
			return res, fmt.Errorf("warm-up request %d: %w", i, err)
		}
	}
	order := make([]int, 0, p.PerClass*len(TimingShared))
	for cls := range TimingShared {
		for i := 0; i < p.PerClass; i++ {
			order = append(order, cls)
		}
	}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	samples := make([][]float64, len(TimingShared))
	for n, cls := range order {
		d, st, err := send(nearMiss(p.Real, p.Prefix, TimingShared[cls]))
		if err != nil {
			return res, fmt.Errorf("after %d of %d samples: %w", n, len(order), err)
		}
		if st != http.StatusUnauthorized {
			res.Other[st]++
		}
		samples[cls] = append(samples[cls], float64(d.Nanoseconds()))
	}
	crop := percentile(samples, TimingCropPercentile)
	var lines []string
	for i := 0; i < len(samples); i++ {
		m, _ := meanVar(samples[i])
		lines = append(lines, fmt.Sprintf("shared %2d chars: n=%d mean=%.1fµs", TimingShared[i], len(samples[i]), m/1e3))
	}
	for i := 0; i < len(samples); i++ {
		for j := i + 1; j < len(samples); j++ {
			tRaw := welch(samples[i], samples[j])
			tCrop := welch(below(samples[i], crop), below(samples[j], crop))
			lines = append(lines, fmt.Sprintf("shared %d vs %d: t=%.2f (raw), t=%.2f (below p%.0f)", TimingShared[i], TimingShared[j], tRaw, tCrop, TimingCropPercentile*100))
			res.Worst = max(res.Worst, math.Abs(tRaw), math.Abs(tCrop))
		}
	}
	res.Summary = strings.Join(lines, "\n")
	return res, nil
}

var _ = framework.Area("apikeys", func(c *framework.Ctx) {
	t := c.Target()
	real, prefix, path := t.Principals.Admin.APIKey, c.Profile.UserKeyPrefix, c.Paths().Protected
	tr := c.Profile.Transports[0]
	if c.Profile.UserKeyPrefix == "" && c.Profile.Can(spec.CapDeviceKeys) {
		real, prefix, path = t.Devices[0].APIKey, c.Profile.DeviceKeyPrefix, c.DeviceStatePath(t.Devices[0].UUID)
		tr = spec.TransportDeviceKey
	}

	c.It("KEY-006", fmt.Sprintf("should take the same time to refuse invalid keys sharing %v leading characters with a real key (Welch t-test over %d interleaved samples on one keep-alive connection, |t| < %.1f), because a comparison that stops at the first differing byte lets an attacker guess a key character by character (dudect)", TimingShared, TimingSamplesPerClass*len(TimingShared), TimingThreshold), func(ctx SpecContext) {
		if len(real)-len(prefix) <= TimingShared[len(TimingShared)-1] {
			framework.SkipNotRun("the real key (%d characters after its prefix) is too short for near misses sharing %d characters with it", len(real)-len(prefix), TimingShared[len(TimingShared)-1])
		}
		// Positive control: the key the near misses imitate is a valid key
		// of this target (else every class is just "unknown key").
		cl := c.Client()
		framework.Control(cl.Get(path, framework.Cred(tr, real)), "the real key the near misses are made from, on "+path, 200)
		header := framework.Cred(tr, "x")
		var headerName string
		for k := range header {
			headerName = k
		}
		probe := timingProbe{
			URL: t.BaseURL + c.Profile.BasePath + path, Header: headerName,
			ValuePrefix: strings.TrimSuffix(header.Get(headerName), "x"),
			Real:        real, Prefix: prefix, PerClass: TimingSamplesPerClass, Warmup: TimingWarmup,
		}
		ctx2, cancel := context.WithTimeout(ctx, TimingBudget)
		defer cancel()
		res, err := probe.measure(ctx2)
		if err != nil {
			framework.Inconclusive("KEY-006 measurement broke off: %s", spec.Mask(err.Error(), t.Secrets()))
		}
		AddReportEntry("KEY-006 timing", res.Summary)
		fmt.Fprintln(GinkgoWriter, res.Summary)
		if len(res.Other) > 0 {
			// A 429 or 5xx (or any other answer) mixes the classes: the
			// timing cannot be judged (attribution: never a failure).
			framework.Inconclusive("every near-miss key must get 401 for the timing to compare like with like; other statuses (status: count): %v\n%s", res.Other, res.Summary)
		}
		Expect(res.Worst).To(BeNumerically("<", TimingThreshold), "the time to refuse a key depends on how many leading characters it shares with a real key:\n%s", res.Summary)
	}, SpecTimeout(TimingBudget+time.Minute))
})
