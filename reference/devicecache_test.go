package reference

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// uncachedDevices is the device list as the handlers built it before the
// cache: filter, json.Marshal, "\n".
func uncachedDevices(t *testing.T, s *Server, keep func(fixtures.Device) bool) []byte {
	t.Helper()
	out := []fixtures.Device{}
	for _, d := range s.st.devices {
		if keep(d) {
			out = append(out, d)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestDeviceListCache: with the encoded lists cached, every principal,
// under the faults that change visibility too, gets byte for byte what
// the uncached handlers answered, on the first (cold) and later requests.
func TestDeviceListCache(t *testing.T) {
	for _, faults := range [][]string{nil, {FaultIgnoreProjectACL}, {FaultLeakCrossTenant}, {FaultKeyScopeMismatch}} {
		e := newEnv(t, spec.Roboticks, withFaults(faults...))
		s := e.s
		creds := map[string]http.Header{
			"admin key": e.key(e.tg.Principals.Admin.APIKey), "member key": e.key(e.tg.Principals.Member.APIKey),
			"outsider key": e.key(e.tg.Principals.Outsider.APIKey), "member jwt": bearerH(e.member()), "admin jwt": bearerH(e.admin()),
		}
		for name, h := range creds {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, vs := range h {
				req.Header[k] = vs
			}
			pr, ae := s.authenticate(req, acceptUsers)
			if ae != nil {
				t.Fatalf("%v %s: %v", faults, name, ae)
			}
			for _, org := range []string{fixtures.OrgAcme, fixtures.OrgGlobex, "nope"} {
				var want []byte
				if s.sameOrg(pr, org) {
					want = uncachedDevices(t, s, func(d fixtures.Device) bool { return d.Org == org && s.projectVisible(pr, org, d.Project) })
				}
				for range 2 {
					r := e.get("/organizations/"+org+"/devices", h)
					if want == nil {
						expect(t, r, 403, name+" on "+org)
					} else if r.code != 200 || !bytes.Equal(r.body, want) || r.h.Get("Content-Type") != "application/json" || r.h.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("%v %s on %s: %d %q %v, want 200 %q", faults, name, org, r.code, r.body, r.h, want)
					}
				}
				for _, project := range []string{"warehouse", "lab", "foundry", "nope"} {
					var want []byte
					if s.projectVisible(pr, org, project) {
						want = uncachedDevices(t, s, func(d fixtures.Device) bool { return d.Org == org && d.Project == project })
					}
					for range 2 {
						r := e.get("/organizations/"+org+"/projects/"+project+"/devices", h)
						if want == nil {
							expect(t, r, 403, name+" on "+org+"/"+project)
						} else if r.code != 200 || !bytes.Equal(r.body, want) {
							t.Errorf("%v %s on %s/%s: %d %q, want 200 %q", faults, name, org, project, r.code, r.body, want)
						}
					}
				}
			}
		}
	}
}

// TestDeviceListCacheConcurrent fills the cache from parallel requests
// (run it with -race).
func TestDeviceListCacheConcurrent(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	want := map[string][]byte{}
	hs := map[string]http.Header{"admin": e.key(e.tg.Principals.Admin.APIKey), "member": e.key(e.tg.Principals.Member.APIKey)}
	for name, h := range hs {
		want[name] = e.get("/organizations/acme/devices", h).body
	}
	e2 := newEnv(t, spec.Roboticks) // cold cache
	var wg sync.WaitGroup
	for i := range 16 {
		name := []string{"admin", "member"}[i%2]
		wg.Go(func() {
			if r := e2.get("/organizations/acme/devices", hs[name]); r.code != 200 || !bytes.Equal(r.body, want[name]) {
				t.Errorf("%s: %d %q, want %q", name, r.code, r.body, want[name])
			}
		})
	}
	wg.Wait()
}

// TestDeviceSetBeyond64 covers selections past the mask (not cached).
func TestDeviceSetBeyond64(t *testing.T) {
	all := make([]fixtures.Device, 70)
	for i := range all {
		all[i] = fixtures.Device{ID: string(rune('A' + i%26))}
	}
	var sel deviceSet
	var want []fixtures.Device
	for _, i := range []int{0, 5, 63, 64, 69} {
		sel.add(i)
		want = append(want, all[i])
	}
	got, err := encodeDevices(all, &sel)
	wb, _ := json.Marshal(want)
	if err != nil || !bytes.Equal(got, append(wb, '\n')) {
		t.Fatalf("got %q %v, want %q", got, err, wb)
	}
	if got, _ := encodeDevices(all, &deviceSet{}); string(got) != "[]\n" {
		t.Fatalf("empty: %q", got)
	}
}
