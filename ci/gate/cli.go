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
  plan        from stable's traffic in Prometheus: the canary share and analysis duration needed
              to fail a 2x regression and pass a healthy canary with 90% probability (exit 2: not possible)
  backtest    run the engine over a recorded range of real Prometheus data (range queries), window by window
  simulate    run the decision engine on simulated traffic and print its error rates (--table: the benchmark)
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
	case "backtest":
		return runBacktest(ctx, rest, getenv, stdout, stderr)
	case "plan":
		return runPlan(ctx, rest, getenv, stdout, stderr)
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
