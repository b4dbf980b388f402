package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

func init() {
	register("reference", command{
		summary: "serve the in-memory reference implementation of a profile",
		run:     runReference,
	})
}

// deploymentVars are the environment variables of seed 003 the reference
// reads from the process environment.
var deploymentVars = []string{"JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_PRIVATE_KEY", "LICENSE_KEY", "LICENSE_PUBLIC_KEY"}

func referenceUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: authconform reference --profile P [--addr HOST:PORT] [--fault NAME]... [--variant NAME]... [--target-out FILE]
                             [--rate-limit N --rate-window D] [--limited-limit N --limited-window D]

Serves one profile (%s) of the reference implementation from memory,
loaded with the default fixtures (user@example.com / your-password, org acme,
project warehouse, ...). Logs go to stderr; the line "listening on URL"
says it is ready.

Flags:
`, strings.Join(spec.Names(), ", "))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, `
Environment (seed 003; read from the process environment):
  JWT_SECRET                     HS256 with this secret (>= 32 bytes)
  JWT_PUBLIC_KEY, JWT_PRIVATE_KEY  RS256 with this PEM pair (literal \n accepted)
                                 neither: HS256 with the fixtures' test secret;
                                 both JWT_SECRET and a key, or half a pair: error
  LICENSE_KEY                    iotistica license JWT (EdDSA). Unset: the fixtures'
                                 valid license (100 devices, every feature).
                                 Set but empty, invalid, expired, alg none: restricted mode
  LICENSE_PUBLIC_KEY             Ed25519 PEM verifying LICENSE_KEY (default: fixtures' key)

Faults (--fault NAME, repeatable; each breaks the check named):
`)
	for _, f := range reference.Faults() {
		fmt.Fprintf(w, "  %-32s %-9s %s\n", f.Name, f.Check, f.Description)
	}
	fmt.Fprintf(w, `
Conformant variants (--variant NAME, repeatable; allowed differences every
check must still pass: proof that the suite does not over-fail):
`)
	for _, v := range reference.Variants() {
		fmt.Fprintf(w, "  %-32s %s\n", v.Name, v.Description)
	}
	fmt.Fprintf(w, `
Examples:
  authconform reference --profile roboticks --addr 127.0.0.1:8080 --target-out target.yaml
  authconform reference --profile iotistica --addr :8080 --fault reusable-provisioning-key
`)
}

func runReference(args []string, stdout, stderr io.Writer) int {
	return runReferenceCtx(context.Background(), args, stdout, stderr)
}

// runReferenceCtx serves until ctx is done, SIGINT or SIGTERM.
func runReferenceCtx(parent context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reference", flag.ContinueOnError)
	profile := fs.String("profile", "", "profile to serve: "+strings.Join(spec.Names(), ", ")+" (required unless --profile-file)")
	profileFile := fs.String("profile-file", "", "serve this profile document instead of a built-in profile (docs/PROFILES.md); its resources.model picks the reference's resource family")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address HOST:PORT (port 0 picks a free port)")
	targetOut := fs.String("target-out", "", "write a target file describing this instance (JSON if it ends in .json, else YAML; mode 0600)")
	rateLimit := fs.Int("rate-limit", 0, fmt.Sprintf("requests per --rate-window for ordinary keys and users (default %d)", reference.DefaultRateLimit))
	rateWindow := fs.Duration("rate-window", 0, fmt.Sprintf("rate-limit window for ordinary keys and users (default %s)", reference.DefaultRateWindow))
	limitedLimit := fs.Int("limited-limit", 0, "budget of the fixtures' rate-limited key (default 10)")
	limitedWindow := fs.Duration("limited-window", 0, "window of the fixtures' rate-limited key (default 2s)")
	logLevel := fs.String("log-level", "info", "log level: debug (every request), info, warn, error")
	var faults, variants stringsFlag
	fs.Var(&faults, "fault", "switch on a deliberate defect (repeatable); see the list below")
	fs.Var(&variants, "variant", "switch on a conformant variant, an allowed difference (repeatable); see the list below")
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			referenceUsage(stdout, fs)
			return exitOK
		}
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, "reference", "unexpected argument %q; all options are flags, see --help", fs.Arg(0))
	}
	if *profileFile != "" {
		p, err := spec.LoadProfile(*profileFile)
		if err != nil {
			return usageErr(stderr, "reference", "--profile-file %v", err)
		}
		if *profile != "" && *profile != string(p.Name) {
			return usageErr(stderr, "reference", "--profile %s but the profile file is %s; drop --profile", *profile, p.Name)
		}
		*profile = string(p.Name)
	}
	if *profile == "" {
		return usageErr(stderr, "reference", "--profile is required; use one of %s (or --profile-file FILE)", strings.Join(spec.Names(), ", "))
	}
	if _, err := spec.Get(spec.ProfileName(*profile)); err != nil {
		return usageErr(stderr, "reference", "--profile %q is unknown; use one of %s", *profile, strings.Join(spec.Names(), ", "))
	}
	for _, v := range variants {
		if _, err := reference.LookupVariant(v); err != nil {
			return usageErr(stderr, "reference", "--variant %q is unknown; run 'authconform reference --help' for the list", v)
		}
	}
	for _, f := range faults {
		if _, err := reference.LookupFault(f); err != nil {
			return usageErr(stderr, "reference", "--fault %q is unknown; run 'authconform reference --help' for the list", f)
		}
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usageErr(stderr, "reference", "--addr %q is not HOST:PORT (e.g. 127.0.0.1:8080 or :0)", *addr)
	}
	if *rateLimit < 0 || *rateWindow < 0 || *limitedLimit < 0 || *limitedWindow < 0 {
		return usageErr(stderr, "reference", "rate limits and windows must not be negative")
	}
	if (*rateWindow > 0 && *rateWindow < time.Second) || (*limitedWindow > 0 && *limitedWindow < time.Second) {
		return usageErr(stderr, "reference", "rate windows must be at least 1s")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErr(stderr, "reference", "--log-level %q is unknown; use debug, info, warn or error", *logLevel)
	}
	env := map[string]string{}
	for _, k := range deploymentVars {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := reference.Start(ctx, reference.Config{
		Profile: spec.ProfileName(*profile), Faults: faults, Variants: variants, Env: env, Logger: log,
		RateLimit: *rateLimit, RateWindow: *rateWindow, LimitedKeyLimit: *limitedLimit, LimitedKeyWindow: *limitedWindow,
	}, *addr)
	if err != nil {
		if errors.Is(err, reference.ErrConfig) {
			return usageErr(stderr, "reference", "%v", err)
		}
		if errors.Is(err, reference.ErrListen) {
			return usageErr(stderr, "reference", "--addr %q: %v; choose a free HOST:PORT (port 0 picks one)", *addr, err)
		}
		fmt.Fprintf(stderr, "authconform reference: %s\n", spec.OneLine(err.Error()))
		return exitFail
	}
	if *targetOut != "" {
		if err := run.Target.WriteFile(*targetOut); err != nil {
			_ = run.Close()
			return usageErr(stderr, "reference", "--target-out %q cannot be written: %v", *targetOut, err)
		}
	}
	log.Info("listening on " + run.URL)
	printHint(stderr, run, *targetOut)
	<-ctx.Done()
	log.Info("shutting down")
	if err := run.Close(); err != nil {
		log.Warn("shutdown was not graceful", "err", err)
	}
	return exitOK
}

// mask shows a credential's prefix only.
func mask(secret, prefix string) string {
	if prefix == "" || !strings.HasPrefix(secret, prefix) {
		prefix = ""
	}
	return prefix + "…"
}

func printHint(w io.Writer, run *reference.Running, targetOut string) {
	t, p := run.Target, run.Server.Profile()
	// Keys and passwords never go to the log, not even the fixtures':
	// the hint names where to find them.
	where := "the full keys and passwords are in the file given with --target-out"
	if targetOut != "" {
		where = "the full keys and passwords are in " + targetOut
	}
	base := run.URL + p.BasePath
	fmt.Fprintf(w, "\nHow to call it (%s; %s):\n", p.Name, where)
	// Written from the profile's data: its transports, login, public
	// paths and device keys on its protected resource.
	protected := p.Resources.Path(p.Resources.Protected, t)
	if p.UserKeyPrefix != "" {
		for _, tr := range p.Transports {
			name, scheme, ok := tr.Header()
			if !ok {
				continue
			}
			val := mask(t.Principals.Admin.APIKey, p.UserKeyPrefix)
			if scheme != "" {
				val = scheme + " " + val
			}
			fmt.Fprintf(w, "  curl -H \"%s: %s\" %s%s\n", name, val, base, protected)
		}
	}
	if p.Login != nil {
		fmt.Fprintf(w, "  curl -X POST -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"<principals.admin.password>\"}' %s%s\n", t.Principals.Admin.Email, base, p.Login.Path)
		if p.UserKeyPrefix == "" {
			fmt.Fprintf(w, "  curl -H \"Authorization: Bearer <%s>\" %s%s\n", p.Login.AccessField, base, protected)
		}
	}
	for _, pp := range p.PublicPaths {
		fmt.Fprintf(w, "  curl %s%s    (public)\n", base, pp)
	}
	if p.DeviceKeyPrefix != "" && len(t.Devices) > 0 {
		fmt.Fprintf(w, "  curl -H \"%s: %s\" %s/device/%s/state\n", p.DeviceKeyHeader, mask(t.Devices[0].APIKey, p.DeviceKeyPrefix), base, t.Devices[0].UUID)
	}
	fmt.Fprintln(w)
}
