package reference

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// keyKind tells user API keys and device keys apart.
type keyKind int

const (
	kindUserKey keyKind = iota
	kindDeviceKey
)

type user struct {
	id, email, hash string
	org             string
	role            fixtures.Role
	projects        map[string]bool
	limitKey        string // rate-limit bucket of its JWTs: "u:" + id
}

func (u *user) admin() bool { return u.role == fixtures.RoleAdmin }

// apiKey is a stored key. Only the SHA-256 of the secret is kept; leaked
// and matchPrefix are filled only under the list-leaks-secret and
// key-prefix-match faults.
type apiKey struct {
	id, name string
	kind     keyKind
	owner    string // user ID (user keys)
	agent    string // agent UUID (device keys)
	org      string
	hash     [32]byte
	mqttHash [32]byte
	revoked  bool
	inactive bool
	limit    int
	window   time.Duration
	created  time.Time
	limitKey string // rate-limit bucket: "k:" + id (user keys), "d:" + id (device keys)

	leaked      string
	matchPrefix string
}

type agent struct {
	uuid, name, org string
	created         time.Time
}

type provKey struct {
	org     string
	expires time.Time
}

type family struct {
	user    string
	current string // jti of the only refresh token of the family that may be used
	revoked bool
}

// store is the in-memory database. One mutex guards everything: every
// check-then-act (revocation, single-use redemption, device count, refresh
// rotation) happens under it.
type store struct {
	mu         sync.RWMutex
	users      map[string]*user // by ID
	byEmail    map[string]*user
	keys       map[[32]byte]*apiKey
	keysByID   map[string]*apiKey
	agents     map[string]*agent
	prov       map[[32]byte]*provKey
	families   map[string]*family
	orgs       map[string]fixtures.Org
	devices    []fixtures.Device
	workspaces []fixtures.Workspace
	clients    []fixtures.Client
	devCache   deviceCache // encoded device lists; devices never change
}

// hashBufLen is the length up to which hashSecret copies the secret into a
// stack buffer instead of allocating.
const hashBufLen = 128

func hashSecret(s string) [32]byte {
	if len(s) <= hashBufLen {
		var buf [hashBufLen]byte
		return sha256.Sum256(buf[:copy(buf[:], s)])
	}
	return sha256.Sum256([]byte(s))
}

// randomBase62 returns 43 characters of spec.Base62Alphabet encoding 32
// bytes from crypto/rand (256 bits).
func randomBase62() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	n := new(big.Int).SetBytes(b)
	base := big.NewInt(62)
	m := new(big.Int)
	out := make([]byte, 43)
	for i := range out {
		n.DivMod(n, base, m)
		out[i] = spec.Base62Alphabet[m.Int64()]
	}
	return string(out)
}

// newID returns a short random identifier for non-secret IDs.
func newID(prefix string) string { return prefix + randomBase62()[:16] }

// prefixMatchLen is how many characters after the prefix the
// key-prefix-match fault compares.
const prefixMatchLen = 16

func matchPrefixOf(secret, prefix string) string {
	n := len(prefix) + prefixMatchLen
	if len(secret) < n {
		return secret
	}
	return secret[:n]
}

// lookupKey finds a key by the hash of secret. It returns a copy so that
// callers never read a key without the lock.
func (st *store) lookupKey(secret string, prefixFault bool, prefix string) (apiKey, bool) {
	h := hashSecret(secret)
	st.mu.RLock()
	defer st.mu.RUnlock()
	if k, ok := st.keys[h]; ok {
		return *k, true
	}
	if prefixFault && strings.HasPrefix(secret, prefix) && len(secret) >= len(prefix)+prefixMatchLen {
		want := matchPrefixOf(secret, prefix)
		for _, k := range st.keys {
			if k.matchPrefix != "" && subtle.ConstantTimeCompare([]byte(k.matchPrefix), []byte(want)) == 1 {
				return *k, true
			}
		}
	}
	return apiKey{}, false
}

func (st *store) user(id string) (user, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	u, ok := st.users[id]
	if !ok {
		return user{}, false
	}
	return *u, true
}
