package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of N parts of a distributed attack. Index is 0-based, the
// way Kubernetes Indexed Jobs number pods (JOB_COMPLETION_INDEX).
type Shard struct {
	Index, Count int
}

// Whole is the single shard of an undistributed attack.
var Whole = Shard{Index: 0, Count: 1}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard reads "i/N" with 0 <= i < N <= 10000.
func ParseShard(v string) (Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("%q is not i/N; write it as 0/4 (0-based index / shard count)", v)
	case n < 1 || n > 10000:
		return Shard{}, fmt.Errorf("%q: N must be 1..10000", v)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("%q: index must be 0..%d (0-based, e.g. JOB_COMPLETION_INDEX)", v, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// Partition returns the elements this shard owns: element j goes to shard
// j mod N, so shards never share a credential. It fails when the shard
// would get nothing.
func Partition[T any](s Shard, all []T, what string) ([]T, error) {
	if s.Count <= 1 {
		return all, nil
	}
	var out []T
	for j, x := range all {
		if j%s.Count == s.Index {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: shard %s gets no %s: the target has only %d; use at most %d shards", ErrUsage, s, what, len(all), len(all))
	}
	return out, nil
}
