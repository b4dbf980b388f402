package loadgen

import (
	"fmt"
	"time"
)

// ResultsFile is what `authconform report` learnt about one results file
// while reading it: its name and the distinct labels (Attack fields) of
// its results, in order of appearance.
type ResultsFile struct {
	Name   string
	Labels []string
}

// labelSink collects the distinct labels of one file.
type labelSink struct {
	f    *ResultsFile
	seen map[string]bool
}

// NewLabelCollector returns a function to call with every result's Attack
// field; it records the distinct ones in f.
func NewLabelCollector(f *ResultsFile) func(attack string) {
	s := &labelSink{f: f, seen: map[string]bool{}}
	last := ""
	return func(attack string) {
		if attack == last && len(s.f.Labels) > 0 {
			return
		}
		last = attack
		if !s.seen[attack] {
			s.seen[attack] = true
			s.f.Labels = append(s.f.Labels, attack)
		}
	}
}

// CheckMerge refuses to merge results that are not the shards of one
// attack: every label must name the same scenario, pace, shard count and
// --start-at, the shards' schedule origins (t0) must lie within one
// attack duration of each other (shards of one attack run together), and
// no shard may appear twice. Files not written by authconform load (plain
// vegeta results) may be reported alone or with each other, not mixed with
// authconform's. The error names the files; it wraps ErrResults.
func CheckMerge(files []ResultsFile) error {
	type seenShard struct {
		file  string
		label string
	}
	var ref *Label
	var refFile string
	var plain, labelled string
	shards := map[int]seenShard{}
	var minT0, maxT0 time.Time
	var minFile, maxFile string
	for _, f := range files {
		for _, raw := range f.Labels {
			l, ok := ParseLabel(raw)
			if !ok {
				if plain == "" {
					plain = f.Name
				}
				continue
			}
			if labelled == "" {
				labelled = f.Name
			}
			if ref == nil {
				ref, refFile = &l, f.Name
			} else if why := sameAttack(*ref, l); why != "" {
				return fmt.Errorf("%w: %s and %s hold results of different attacks (%s); merge only the shards of one attack", ErrResults, refFile, f.Name, why)
			}
			if prev, dup := shards[l.Shard.Index]; dup {
				if prev.file == f.Name {
					return fmt.Errorf("%w: %s holds shard %s twice; give each shard's file once", ErrResults, f.Name, l.Shard)
				}
				return fmt.Errorf("%w: %s and %s both hold shard %s; give each shard's file once", ErrResults, prev.file, f.Name, l.Shard)
			}
			shards[l.Shard.Index] = seenShard{f.Name, raw}
			if minT0.IsZero() || l.Began.Before(minT0) {
				minT0, minFile = l.Began, f.Name
			}
			if l.Began.After(maxT0) {
				maxT0, maxFile = l.Began, f.Name
			}
		}
	}
	if plain != "" && labelled != "" {
		return fmt.Errorf("%w: %s was not written by 'authconform load' (no attack label) and cannot be checked against %s; report it on its own", ErrResults, plain, labelled)
	}
	if ref != nil && maxT0.Sub(minT0) > ref.Pace.Duration {
		return fmt.Errorf("%w: %s and %s hold results of different attacks (started %s apart, longer than the %s attack); start the shards together with --start-at", ErrResults, minFile, maxFile, maxT0.Sub(minT0).Round(time.Millisecond), ref.Pace.Duration)
	}
	return nil
}

// sameAttack says why two shard labels are not of one attack ("" if they
// are).
func sameAttack(a, b Label) string {
	switch {
	case a.Scenario != b.Scenario:
		return fmt.Sprintf("scenario %s vs %s", a.Scenario, b.Scenario)
	case a.Shard.Count != b.Shard.Count:
		return fmt.Sprintf("%d vs %d shards", a.Shard.Count, b.Shard.Count)
	case a.Pace.String() != b.Pace.String():
		return fmt.Sprintf("pace %s vs %s", a.Pace, b.Pace)
	case !a.StartAt.Equal(b.StartAt):
		return fmt.Sprintf("--start-at %s vs %s", fmtStart(a.StartAt), fmtStart(b.StartAt))
	case a.Profile != b.Profile:
		return fmt.Sprintf("profile %s vs %s", a.Profile, b.Profile)
	}
	return ""
}

func fmtStart(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
