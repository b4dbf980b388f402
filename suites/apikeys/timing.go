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
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
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

var _ = framework.Area("apikeys", func(c *framework.Ctx) {
	t := c.Target()
	real, prefix, path := t.Principals.Admin.APIKey, c.Profile.UserKeyPrefix, c.Paths().Protected
	tr := c.Profile.Transports[0]
	if c.Name() == spec.Iotistica {
		real, prefix, path = t.Devices[0].APIKey, c.Profile.DeviceKeyPrefix, framework.DeviceStatePath(t.Devices[0].UUID)
		tr = spec.TransportDeviceKey
	}

	c.It("KEY-006", fmt.Sprintf("should take the same time to refuse invalid keys sharing %v leading characters with a real key (Welch t-test over %d interleaved samples on one keep-alive connection, |t| < %.1f), because a comparison that stops at the first differing byte lets an attacker guess a key character by character (dudect)", TimingShared, TimingSamplesPerClass*len(TimingShared), TimingThreshold), func(ctx SpecContext) {
		if len(real)-len(prefix) <= TimingShared[len(TimingShared)-1] {
			Skip("the real key is too short to share 16 characters after its prefix")
		}
		// One connection, reused: the measurement is one keep-alive
		// round trip per request, without dials in the samples.
		tp := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute}
		defer tp.CloseIdleConnections()
		hc := &http.Client{Transport: tp, Timeout: framework.DefaultTimeout}
		url := t.BaseURL + c.Profile.BasePath + path
		header := framework.Cred(tr, "x")
		var headerName string
		for k := range header {
			headerName = k
		}
		valuePrefix := strings.TrimSuffix(header.Get(headerName), "x")

		send := func(ctx context.Context, key string) (time.Duration, int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return 0, 0, err
			}
			req.Header.Set(headerName, valuePrefix+key)
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				return 0, 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return time.Since(start), resp.StatusCode, nil
		}

		ctx2, cancel := context.WithTimeout(ctx, TimingBudget)
		defer cancel()
		for i := 0; i < TimingWarmup; i++ {
			if _, _, err := send(ctx2, nearMiss(real, prefix, TimingShared[i%len(TimingShared)])); err != nil {
				Fail(fmt.Sprintf("warm-up request failed: %v", spec.Mask(err.Error(), t.Secrets())))
			}
		}
		order := make([]int, 0, TimingSamplesPerClass*len(TimingShared))
		for cls := range TimingShared {
			for i := 0; i < TimingSamplesPerClass; i++ {
				order = append(order, cls)
			}
		}
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		samples := make([][]float64, len(TimingShared))
		other := map[int]int{}
		for n, cls := range order {
			d, st, err := send(ctx2, nearMiss(real, prefix, TimingShared[cls]))
			if err != nil {
				Fail(fmt.Sprintf("after %d of %d samples: %v", n, len(order), spec.Mask(err.Error(), t.Secrets())))
			}
			if st != http.StatusUnauthorized {
				other[st]++
			}
			samples[cls] = append(samples[cls], float64(d.Nanoseconds()))
		}
		Expect(other).To(BeEmpty(), "every near-miss key must get 401; other statuses (status: count) mix the classes and make the timing meaningless")

		crop := percentile(samples, TimingCropPercentile)
		var lines []string
		worst := 0.0
		for i := 0; i < len(samples); i++ {
			m, _ := meanVar(samples[i])
			lines = append(lines, fmt.Sprintf("shared %2d chars: n=%d mean=%.1fµs", TimingShared[i], len(samples[i]), m/1e3))
			for j := i + 1; j < len(samples); j++ {
				tRaw := welch(samples[i], samples[j])
				tCrop := welch(below(samples[i], crop), below(samples[j], crop))
				lines = append(lines, fmt.Sprintf("shared %d vs %d: t=%.2f (raw), t=%.2f (below p%.0f)", TimingShared[i], TimingShared[j], tRaw, tCrop, TimingCropPercentile*100))
				worst = max(worst, math.Abs(tRaw), math.Abs(tCrop))
			}
		}
		summary := strings.Join(lines, "\n")
		AddReportEntry("KEY-006 timing", summary)
		fmt.Fprintln(GinkgoWriter, summary)
		Expect(worst).To(BeNumerically("<", TimingThreshold), "the time to refuse a key depends on how many leading characters it shares with a real key:\n%s", summary)
	}, SpecTimeout(TimingBudget+time.Minute))
})
