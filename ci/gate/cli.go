// Package gate is the canary gate: it reads request, error and latency
// counts per release track from Prometheus and decides, with an
// anytime-valid sequential test, whether a canary passes, fails or the
// evidence is inconclusive. `gate simulate` runs the same engine offline.
package gate

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/config"
)

// Exit codes.
const (
	ExitPass         = 0
	ExitFail         = 1
	ExitInconclusive = 2 // also "blocked" for preflight
	ExitUsage        = 3
)

// DefaultConfigPath is read when --config is not given and the file exists.
const DefaultConfigPath = "ci/canary.yaml"

const usage = `usage: gate <command> [flags]

commands:
  analyze     compare canary against baseline in Prometheus; exit 0 pass, 1 fail, 2 inconclusive, 3 usage
  preflight   block a deploy (exit 2) while an SLO alert fires or the error budget is spent
  simulate    run the decision engine on simulated traffic and print its error rates
  serve       judge canaries for Argo Rollouts (Web provider) and Flagger (webhooks) over HTTP
  version     print the version

run "gate <command> -h" for the flags of a command.
`

// Run is the whole program; main only passes the process environment in.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "gate")
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "analyze":
		return runAnalyze(ctx, rest, getenv, stdout, stderr, log)
	case "preflight":
		return runPreflight(ctx, rest, getenv, stdout, stderr)
	case "simulate":
		return runSimulate(rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		return printVersion(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return ExitPass
	default:
		fmt.Fprintf(stderr, "gate: unknown command %q\n\n%s", cmd, usage)
		return ExitUsage
	}
}

// usageErr prints a configuration or usage error and returns exit code 3.
func usageErr(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "gate: configuration error: %v\n", err)
	return ExitUsage
}

// warnPasswordInArgv warns when a URL flag carries a password: the gate
// accepts it and never prints it, but ps and CI logs show the command line.
func warnPasswordInArgv(stderr io.Writer, flag, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return
	}
	if _, ok := u.User.Password(); ok {
		fmt.Fprintf(stderr, "gate: warning: the URL of %s holds a password, which the command line shows to anyone who can list processes; prefer --basic-auth-user with --basic-auth-password-file or %s (Prometheus), or the URL in the config file\n", flag, EnvPassword)
	}
}

// repeated collects the values of a flag given several times.
type repeated []string

func (h *repeated) String() string     { return strings.Join(*h, ", ") }
func (h *repeated) Set(v string) error { *h = append(*h, v); return nil }

// commonFlags are the flags shared by analyze and preflight. Values are
// only applied when the flag was set, so the YAML keeps its values.
type commonFlags struct {
	config, prometheus, bearerFile, basicUser, basicPassFile, caFile string
	timeout                                                          time.Duration
	retries, maxErrors                                               int
	headers, headerFiles, headerEnvs                                 repeated
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config (default "+DefaultConfigPath+" when it exists)")
	fs.StringVar(&c.prometheus, "prometheus", "", "Prometheus HTTP API base URL")
	fs.StringVar(&c.bearerFile, "bearer-token-file", "", "file holding a bearer token (or set GATE_PROMETHEUS_TOKEN)")
	fs.StringVar(&c.basicUser, "basic-auth-user", "", "basic auth user name (password from --basic-auth-password-file or GATE_PROMETHEUS_PASSWORD)")
	fs.StringVar(&c.basicPassFile, "basic-auth-password-file", "", "file holding the basic auth password")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM file of CA certificates to trust")
	fs.DurationVar(&c.timeout, "timeout", 0, "timeout of one Prometheus query")
	fs.IntVar(&c.retries, "retries", 0, "retries of a failed query within one poll")
	fs.IntVar(&c.maxErrors, "max-consecutive-errors", 0, "polls in a row with Prometheus errors before giving up (inconclusive)")
	fs.Var(&c.headers, "header", `extra HTTP header "Name: value" (repeatable), e.g. "X-Scope-OrgID: team"; refused for headers carrying credentials`)
	fs.Var(&c.headerFiles, "header-file", "extra HTTP header Name=PATH whose value is read from the file on each request (repeatable)")
	fs.Var(&c.headerEnvs, "header-env", "extra HTTP header Name=VAR whose value is the environment variable VAR (repeatable)")
}

// load reads the config file and applies the flags that were set.
func (c *commonFlags) load(fs *flag.FlagSet) (Config, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := DefaultConfig()
	path := c.config
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	if path != "" {
		var err error
		if cfg, err = LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	p := &cfg.Prometheus
	if set["prometheus"] {
		p.URL = c.prometheus
	}
	if set["bearer-token-file"] {
		p.HTTP.BearerTokenFile = c.bearerFile
	}
	if set["basic-auth-user"] || set["basic-auth-password-file"] {
		if p.HTTP.BasicAuth == nil {
			p.HTTP.BasicAuth = &config.BasicAuth{}
		}
		if set["basic-auth-user"] {
			p.HTTP.BasicAuth.Username = c.basicUser
		}
		if set["basic-auth-password-file"] {
			p.HTTP.BasicAuth.PasswordFile = c.basicPassFile
		}
	}
	if set["ca-file"] {
		p.CAFile = c.caFile
	}
	if set["timeout"] {
		p.Timeout = Duration(c.timeout)
	}
	if set["retries"] {
		p.Retries = c.retries
	}
	if set["max-consecutive-errors"] {
		p.MaxConsecutiveErrors = c.maxErrors
	}
	if err := p.parseHeaderFlags(c.headers, c.headerFiles, c.headerEnvs); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := SimParams{}
	var cfgPath string
	var alpha float64
	fs.StringVar(&cfgPath, "config", "", "YAML config for the engine settings (default: built-in defaults)")
	fs.Float64Var(&p.BaselineErrorRate, "baseline-error-rate", 0.0025, "share of baseline requests answered 5xx")
	fs.Float64Var(&p.CanaryErrorRate, "canary-error-rate", 0.0025, "share of canary requests answered 5xx")
	fs.Float64Var(&p.BaselineSlowRate, "baseline-slow-rate", 0.005, "share of baseline requests slower than the latency threshold")
	fs.Float64Var(&p.CanarySlowRate, "canary-slow-rate", 0.005, "share of canary requests slower than the latency threshold")
	fs.Float64Var(&p.CanaryShare, "canary-share", 0.1, "share of traffic the canary gets")
	fs.Float64Var(&p.RPS, "rps", 100, "total requests per second (Poisson)")
	fs.DurationVar(&p.Interval, "interval", time.Second, "poll interval (the gate looks at every poll)")
	fs.DurationVar(&p.MaxDuration, "max-duration", 10*time.Minute, "maximum analysis duration")
	fs.IntVar(&p.Runs, "runs", 1000, "number of simulated analyses")
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed (same seed, same output)")
	fs.DurationVar(&p.Deadline, "deadline", 0, "also report the share of runs failed within this time")
	fs.Float64Var(&alpha, "alpha", 0, "significance of the whole analysis (default from config: 0.05)")
	fs.Float64Var(&p.NaiveFactor, "naive-factor", 1.5, "naive check: fail when canary ratio > factor x baseline ratio + slack")
	fs.Float64Var(&p.NaiveSlack, "naive-slack", 0.001, "naive check: absolute slack added to the limit")
	fs.DurationVar(&p.NaiveWindow, "naive-window", time.Minute, "naive check: window of its ratios (like rate(...[1m]))")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cfg := DefaultConfig()
	if cfgPath != "" {
		var err error
		if cfg, err = LoadConfig(cfgPath); err != nil {
			return usageErr(stderr, err)
		}
	}
	if alpha != 0 {
		cfg.Analysis.Alpha = alpha
	}
	cfg.Analysis.CanaryShare = p.CanaryShare
	cfg.Analysis.Interval = Duration(p.Interval)
	cfg.Analysis.MaxDuration = Duration(p.MaxDuration)
	cfg.Checks.Custom = nil // nothing to simulate them from
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"--baseline-error-rate", p.BaselineErrorRate}, {"--canary-error-rate", p.CanaryErrorRate}, {"--baseline-slow-rate", p.BaselineSlowRate}, {"--canary-slow-rate", p.CanarySlowRate}} {
		if r.v < 0 || r.v > 1 {
			return usageErr(stderr, fieldErr(r.name, "must be in [0, 1], got %g", r.v))
		}
	}
	switch {
	case p.CanaryShare <= 0:
		return usageErr(stderr, fieldErr("--canary-share", "must be in (0, 1)"))
	case p.RPS <= 0:
		return usageErr(stderr, fieldErr("--rps", "must be positive"))
	case p.Runs < 1:
		return usageErr(stderr, fieldErr("--runs", "must be at least 1"))
	}
	start := time.Now()
	res := Simulate(cfg, p)
	res.Print(stdout, NewEngine(cfg).AlphaPerCheck())
	fmt.Fprintf(stdout, "\n(%d runs in %s)\n", p.Runs, time.Since(start).Round(time.Millisecond))
	return ExitPass
}
