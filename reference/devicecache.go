package reference

import (
	"encoding/json"
	"math/bits"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/authconform/authconform/fixtures"
)

// The device list endpoints answer a JSON array of fixture devices. The
// devices are loaded once and never change for the life of a Server, so
// the encoded answer depends only on which devices a request may see. The
// access decision is still made per request (every device is checked
// against the principal); only the encoding of the resulting selection is
// cached, keyed by the set of selected devices.

// deviceSet is a selection of s.st.devices by index: a bit mask for the
// first 64, a list for any beyond (never cached).
type deviceSet struct {
	mask uint64
	over []int
}

func (d *deviceSet) add(i int) {
	if i < 64 {
		d.mask |= 1 << uint(i)
		return
	}
	d.over = append(d.over, i)
}

// maxDeviceCacheEntries bounds the cache; selections beyond it are encoded
// per request. The fixtures give a handful of distinct selections.
const maxDeviceCacheEntries = 256

// deviceCache maps a selection mask to its encoded answer (JSON + "\n").
// Readers load the map without a lock; writers copy it under mu.
type deviceCache struct {
	mu      sync.Mutex
	entries atomic.Pointer[map[uint64][]byte]
}

// encodeDevices is what writeJSON would write for the selected devices.
func encodeDevices(all []fixtures.Device, sel *deviceSet) ([]byte, error) {
	out := make([]fixtures.Device, 0, bits.OnesCount64(sel.mask)+len(sel.over))
	for m := sel.mask; m != 0; m &= m - 1 {
		out = append(out, all[bits.TrailingZeros64(m)])
	}
	for _, i := range sel.over {
		out = append(out, all[i])
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeDevices writes the selected devices as writeJSON(w, 200, list) does.
func (s *Server) writeDevices(w http.ResponseWriter, sel *deviceSet) {
	c := &s.st.devCache
	if len(sel.over) == 0 {
		if m := c.entries.Load(); m != nil {
			if b, ok := (*m)[sel.mask]; ok {
				writeJSONBytes(w, http.StatusOK, b)
				return
			}
		}
	}
	b, err := encodeDevices(s.st.devices, sel)
	if err != nil {
		writeJSONBytes(w, http.StatusInternalServerError, encodingFailed())
		return
	}
	if len(sel.over) == 0 {
		c.mu.Lock()
		old := c.entries.Load()
		if old == nil || len(*old) < maxDeviceCacheEntries {
			m := make(map[uint64][]byte, 1)
			if old != nil {
				for k, v := range *old {
					m[k] = v
				}
			}
			m[sel.mask] = b
			c.entries.Store(&m)
		}
		c.mu.Unlock()
	}
	writeJSONBytes(w, http.StatusOK, b)
}
