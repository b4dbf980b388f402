// Package framework is the small core every conformance spec uses: the
// per-profile context (target, environment, HTTP client), typed labels
// checked against the catalogue in spec/, matchers for the profiles' error
// bodies, and the result model the reports are built from.
//
// Area packages (suites/transport, suites/jwt, ...) register a builder with
// Area at init time. Build then constructs one Ginkgo container per profile
// under test and calls every builder with that profile's *Ctx, so the same
// specs run against each profile and carry the profile as a label.
package framework

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
)

// Ctx is what a spec knows about the implementation under test for one
// profile. It is built before the Ginkgo tree and never changes.
type Ctx struct {
	Profile *spec.Profile
	Env     Env
	// used records the check IDs for which a spec was declared, specCount
	// how many (build time; every spec goes through It/ItShould).
	used      map[string]bool
	specCount map[string]int

	logins LoginCache // CachedLogin
}

// Target is the target description of the environment.
func (c *Ctx) Target() *spec.Target { return c.Env.Target() }

// Name is the profile name.
func (c *Ctx) Name() spec.ProfileName { return c.Profile.Name }

type areaBuilder struct {
	name  string
	build func(c *Ctx)
}

var areas []areaBuilder

// Area registers the specs of one area. Call it from a package-level var:
//
//	var _ = framework.Area("transport", func(c *framework.Ctx) { ... })
func Area(name string, build func(c *Ctx)) bool {
	known := false
	for _, a := range spec.Areas {
		known = known || a == name
	}
	if !known {
		panic(fmt.Sprintf("framework: unknown area %q (spec.Areas: %v)", name, spec.Areas))
	}
	areas = append(areas, areaBuilder{name, build})
	return true
}

// Build declares the Ginkgo tree: one container per context (profile), one
// per area inside it. Call it once, before RunSpecs or PreviewSpecs.
func Build(ctxs []*Ctx) {
	for _, c := range ctxs {
		c := c
		if c.used == nil {
			c.used = map[string]bool{}
			c.specCount = map[string]int{}
		}
		Describe(string(c.Name()), Label(ProfileLabel(c.Name())), func() {
			// A target declared unresponsive gets no more requests: the
			// rest of the run is not-run with the reason.
			BeforeEach(func() {
				if why := Unresponsive(c.Target().BaseURL); why != "" {
					SkipNotRun("%s", why)
				}
			})
			for _, a := range areas {
				a := a
				applies := false
				for _, ch := range spec.ChecksFor(c.Name()) {
					applies = applies || ch.Area == a.name
				}
				if !applies {
					continue
				}
				Describe(a.name, func() { a.build(c) })
			}
		})
	}
}

// It declares one conformance spec for check id. text says in plain words
// what MUST (or SHOULD) happen and why. The check's level, area, profile and
// needs become labels; an unknown id panics at tree-construction time, which
// the catalogue test turns into a failure. args are further Ginkgo
// decorators (SpecTimeout, ...) and the body.
//
// Checks that need something the environment lacks are still declared: the
// body is replaced by a Skip with the reason, so the check is counted as
// skipped and the reason printed, never as passed.
func (c *Ctx) It(id, text string, args ...any) bool {
	ch := c.check(id)
	return It(text, append([]any{Offset(1), c.labels(ch, ch.LevelFor(c.Name()))}, c.guard(ch, args)...)...)
}

// ItShould declares the SHOULD part of a MUST check (for example RATE-005's
// under-admission): it counts toward the SHOULD score, never fails the run.
func (c *Ctx) ItShould(id, text string, args ...any) bool {
	ch := c.check(id)
	return It(text, append([]any{Offset(1), c.labels(ch, spec.SHOULD)}, c.guard(ch, args)...)...)
}

func (c *Ctx) check(id string) spec.Check {
	ch, ok := spec.Lookup(id)
	if !ok {
		panic(fmt.Sprintf("framework: spec names check %q, which is not in spec/catalogue.yaml", id))
	}
	if !ch.AppliesTo(c.Name()) {
		panic(fmt.Sprintf("framework: check %s does not apply to profile %s (see spec/catalogue.yaml)", id, c.Name()))
	}
	if c.used != nil {
		c.used[id] = true
		c.specCount[id]++
	}
	return ch
}

func (c *Ctx) labels(ch spec.Check, level spec.Level) Labels {
	labels := Labels{CheckLabel(ch.ID), LevelLabel(level), AreaLabel(ch.Area)}
	for _, n := range ch.Needs {
		labels = append(labels, NeedLabel(n))
	}
	return labels
}

// guard replaces the body with a Skip when the environment cannot run ch.
func (c *Ctx) guard(ch spec.Check, args []any) []any {
	skip := c.missing(ch)
	if skip == "" {
		return args
	}
	out := make([]any, 0, len(args))
	for _, a := range args {
		// Keep the body's signature: Ginkgo rejects SpecTimeout on a body
		// that takes no context.
		switch a.(type) {
		case func():
			out = append(out, func() { SkipNotRun("%s", skip) })
		case func(SpecContext):
			out = append(out, func(SpecContext) { SkipNotRun("%s", skip) })
		case func(context.Context):
			out = append(out, func(context.Context) { SkipNotRun("%s", skip) })
		default:
			out = append(out, a)
		}
	}
	return out
}

// missing returns why the environment cannot run the check, or "".
func (c *Ctx) missing(ch spec.Check) string {
	for _, n := range ch.Needs {
		switch n {
		case spec.NeedMQTT:
			if c.Target().MQTT == nil {
				return "needs an MQTT broker wired to the target: use --env containers or --env exec, or set mqtt.address in the target file"
			}
		case spec.NeedSigningKey:
			ct := c.Target().Control
			if !c.Env.CanDeploy() && ct.JWTSecret == "" && ct.JWTPrivateKey == "" {
				return "needs a key the target accepts tokens from: set control.jwtSecret (HS256) or control.jwtPrivateKey (RS256) in the target file, or use an environment the suite deploys"
			}
		case spec.NeedDeployment:
			if !c.Env.CanDeploy() {
				return fmt.Sprintf("needs control of the deployment (JWT keys, license); the %s environment does not give it: use the embedded or containers environment", c.Env.Name())
			}
		}
	}
	return ""
}

// Label helpers. Every label goes through these so the registry stays the
// single source (STYLE.md: labels only through typed helpers).
func CheckLabel(id string) string            { return id }
func LevelLabel(l spec.Level) string         { return "level:" + string(l) }
func AreaLabel(a string) string              { return "area:" + a }
func ProfileLabel(p spec.ProfileName) string { return "profile:" + string(p) }
func NeedLabel(n spec.Need) string           { return "needs:" + string(n) }
func labelValue(labels []string, prefix string) string {
	for _, l := range labels {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix)
		}
	}
	return ""
}

// CheckIDOf returns the catalogue ID among a spec's labels.
func CheckIDOf(labels []string) string {
	for _, l := range labels {
		if _, ok := spec.Lookup(l); ok {
			return l
		}
	}
	return ""
}
