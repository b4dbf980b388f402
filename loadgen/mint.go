package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/authconform/authconform/spec"
)

// Shards beyond the target's credentials. A target file names three
// principals and a handful of devices; `--shard i/N` partitions them
// (element j to shard j mod N) so that shards never share a key. Where
// N exceeds them, a shard mints its own credentials where the profile can:
//
//   - user API keys (key-*): a new key of the principal i mod P, created
//     through the profile's keys API (keys.create) with that principal's
//     own key, revoked again (keys.delete) after the attack;
//   - device keys (key-* where devices carry the keys): new devices
//     registered through the provisioning API;
//   - JWT sessions (jwt-verify, login, refresh): a login of principal
//     i mod P; the shard's tokens and refresh families are its own, only
//     the principal (and its password) is shared.
//
// Profiles without such an API keep the old bound (N at most the
// credentials), with an error that says so.

// addCleanup registers f to run after the attack (also when it fails).
func (e *env) addCleanup(f func()) { e.cleanups = append(e.cleanups, f) }

// cleanup runs the registered cleanups, last first.
func (e *env) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// sessionPrincipals are the principals this shard logs in as: its share
// of the partition, or, when N exceeds the principals, principal
// i mod P alone (a login of its own: its own session).
func sessionPrincipals(e *env, all []principal) ([]principal, []string) {
	ps, err := Partition(e.shard, all, "principals")
	if err == nil {
		return ps, nil
	}
	p := all[e.shard.Index%len(all)]
	return []principal{p}, []string{fmt.Sprintf("shard %s logs in as the %s principal itself: its tokens are its own, the principal is shared with other shards (the target has %d principals)", e.shard, p.name, len(all))}
}

// canMintUserKeys reports whether the profile lets a principal create
// its own API keys.
func canMintUserKeys(p *spec.Profile) bool {
	return p.UserKeyPrefix != "" && p.Can(spec.CapKeysAPI) && p.Keys != nil && p.Keys.Create != "" && p.Keys.SecretJSON != ""
}

// mintUserKey creates a new API key of owner through the keys API,
// authenticated with owner's own key on the profile's first transport,
// and registers its revocation (keys.delete) as a cleanup. The secret
// never appears in an error.
func mintUserKey(ctx context.Context, e *env, owner principal) (string, error) {
	k := e.p.Keys
	h, v := transportHeader(e.p.Transports[0], owner.APIKey)
	auth := http.Header{h: {v}}
	var out map[string]any
	name := fmt.Sprintf("authconform-load-shard-%d-of-%d", e.shard.Index, e.shard.Count)
	resp, err := e.do(ctx, http.MethodPost, k.Create, auth, map[string]string{"name": name}, &out)
	if err != nil {
		return "", fmt.Errorf("%w: shard %s: minting an API key: %v", ErrUsage, e.shard, err)
	}
	secret, _ := out[k.SecretJSON].(string)
	if resp.StatusCode/100 != 2 || secret == "" {
		return "", fmt.Errorf("%w: shard %s: minting an API key of the %s principal (POST %s) got %d without %q; check principals.%s.apiKey or use at most as many shards as principals", ErrUsage, e.shard, owner.name, e.p.BasePath+k.Create, resp.StatusCode, k.SecretJSON, owner.name)
	}
	id, _ := out[k.IDJSON].(string)
	if k.Delete != "" && id != "" {
		e.addCleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = e.do(ctx, http.MethodDelete, k.Delete+"/"+url.PathEscape(id), auth, nil, nil)
		})
	}
	return secret, nil
}

// mintedUserKeyPrincipal is owner with a freshly minted key: principal
// i mod P of the keyed principals.
func mintedUserKeyPrincipal(ctx context.Context, e *env, keyed []principal) (principal, string, error) {
	owner := keyed[e.shard.Index%len(keyed)]
	secret, err := mintUserKey(ctx, e, owner)
	if err != nil {
		return principal{}, "", err
	}
	p := owner
	p.APIKey = secret
	note := fmt.Sprintf("shard %s minted its own API key of the %s principal (POST %s%s)", e.shard, owner.name, e.p.BasePath, e.p.Keys.Create)
	if e.p.Keys.Delete != "" {
		note += ", revoked after the attack"
	}
	return p, note, nil
}
