package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/ci/release"
	"github.com/obsshort/shortener/ci/release/replay"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/internal/moduleroot"
)

const usage = `usage: release <command> [flags]

commands:
  stack up          start the local stack (idempotent) and say where it listens
  stack down        stop it; data stays in the state folder
  stack status      what runs where, HAProxy weights
  release           release a version: --version V [--fault-error-rate R] [--canary-weight 10] [--steps 10,50] [--skip-tests]
                    [--test-packages ./...] [--fuzz-time 2s] [--lint] [--bench-count 5]
                    exit 0 promoted, 1 rolled back, 2 blocked before deploy, 3 pipeline error
  rollback          roll back a canary an interrupted release left deployed (no canary: nothing to do)
  replay-incident   with the stack up and load through HAProxy: a version failing 30%
                    is rolled back, (with --kill-after) a canary killed mid-analysis is failed and
                    rolled back, then a healthy one promoted; exit 0 only if every check passes
  replay-test-stage with the stack up and load: from a scratch clone, a change that edits a test's
                    expected value to match broken output, and one that deletes an assertion, are
                    blocked at the test stage naming the test; one that adds a test is promoted

Every command takes --state DIR (env RELEASE_STATE_DIR, default ./.state/stack).
Run "release <command> -h" for its flags.
`

// exitCode is an error that carries the process exit code. A nil err
// means the reason was printed already (usage, flag errors).
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e exitCode) Unwrap() error { return e.err }
func (e exitCode) ExitCode() int { return e.code }

// run is the whole program; main passes the process environment in so that
// tests run it with their own state folder, ports and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exitCode{3, nil}
	}
	switch args[1] {
	case "stack":
		if len(args) < 3 {
			fmt.Fprint(stderr, usage)
			return exitCode{3, nil}
		}
		return runStack(ctx, args[2], args[3:], getenv, stdout, stderr)
	case "release":
		return runRelease(ctx, args[2:], getenv, stdout, stderr)
	case "replay-incident":
		return runReplay(ctx, args[2:], getenv, stdout, stderr)
	case "replay-test-stage":
		return runReplayTestStage(ctx, args[2:], getenv, stdout, stderr)
	case "rollback":
		return runRollback(ctx, args[2:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[1], usage)
		return exitCode{3, nil}
	}
}

// common are the flags every command has.
type common struct {
	state, repo string
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	def := getenv("RELEASE_STATE_DIR")
	if def == "" {
		def = filepath.Join(".state", "stack")
	}
	fs.StringVar(&c.state, "state", def, "state folder of the stack (env RELEASE_STATE_DIR)")
	fs.StringVar(&c.repo, "repo", "", "repository root (default: the folder holding go.mod, searched upwards)")
}

func (c *common) resolve() error {
	var err error
	if c.repo == "" {
		if c.repo, err = moduleroot.Find("."); err != nil {
			return fmt.Errorf("%w, or pass --repo", err)
		}
	}
	if c.repo, err = filepath.Abs(c.repo); err != nil {
		return err
	}
	if !filepath.IsAbs(c.state) {
		// Relative to the repository, so `make stack` and `go run` from a
		// subfolder agree.
		c.state = filepath.Join(c.repo, c.state)
	}
	return nil
}

// errNoStack says the state folder holds no stack.
var errNoStack = errors.New("run `release stack up` first")

// loadStack reads the saved config of a stack that was started.
func loadStack(c common) (stack.Config, error) {
	cfg, err := stack.LoadConfig(c.state)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf("no stack in %s: %w", c.state, errNoStack)
	}
	return cfg, err
}

// resolveAndLoad finishes the common flags and loads the stack they name;
// a missing or unreadable stack is a usage error (exit 3).
func resolveAndLoad(c *common) (stack.Config, error) {
	if err := c.resolve(); err != nil {
		return stack.Config{}, err
	}
	cfg, err := loadStack(*c)
	if err != nil {
		return cfg, exitCode{3, err}
	}
	return cfg, nil
}

func runStack(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release stack "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, getenv)
	def := stack.DefaultConfig("", "")
	var (
		proxy     = fs.String("proxy-addr", def.ProxyAddr, "HAProxy public frontend (users)")
		haMetrics = fs.String("haproxy-metrics-addr", def.HAProxyMetricsAddr, "HAProxy /metrics and /stats")
		prom      = fs.String("prometheus-addr", def.PrometheusAddr, "Prometheus")
		pushgw    = fs.String("pushgateway-addr", def.PushgatewayAddr, "Pushgateway")
		slotA     = fs.String("slot-a-addr", def.Slots[0].Addr, "app slot a, public listener")
		slotAAdm  = fs.String("slot-a-admin-addr", def.Slots[0].AdminAddr, "app slot a, admin listener")
		slotB     = fs.String("slot-b-addr", def.Slots[1].Addr, "app slot b, public listener")
		slotBAdm  = fs.String("slot-b-admin-addr", def.Slots[1].AdminAddr, "app slot b, admin listener")
		interval  = fs.Duration("scrape-interval", time.Duration(def.ScrapeInterval), "Prometheus scrape and rule evaluation interval")
		store     = fs.String("store", def.Store, "where the app keeps links: sqlite (one file) or postgres (a PostgreSQL server the stack starts)")
		replicas  = fs.Int("replicas", 0, "stable replicas (default 1 on sqlite, 3 on postgres)")
		pgAddr    = fs.String("postgres-addr", def.PostgresAddr, "PostgreSQL (with --store postgres)")
		moreAddrs = fs.String("replica-addrs", "", "addresses of replicas 2.. as public/admin pairs, comma-separated: slot a's, then slot b's (default: ports beside the slots')")
		version   = fs.String("version", "", "version of the first stable, built from this checkout (default: git describe)")
		binary    = fs.String("binary", "", "use this shortener binary as the first stable instead of building")
	)
	if err := fs.Parse(args); err != nil {
		return exitCode{3, nil}
	}
	if err := c.resolve(); err != nil {
		return err
	}
	switch sub {
	case "up":
		cfg := stack.DefaultConfig(c.state, c.repo)
		if saved, err := stack.LoadConfig(c.state); err == nil {
			// Later runs keep the ports of the first unless a flag says otherwise.
			cfg = saved
			cfg.StateDir, cfg.RepoRoot = c.state, c.repo
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "proxy-addr":
				cfg.ProxyAddr = *proxy
			case "haproxy-metrics-addr":
				cfg.HAProxyMetricsAddr = *haMetrics
			case "prometheus-addr":
				cfg.PrometheusAddr = *prom
			case "pushgateway-addr":
				cfg.PushgatewayAddr = *pushgw
			case "slot-a-addr":
				cfg.Slots[0].Addr = *slotA
			case "slot-a-admin-addr":
				cfg.Slots[0].AdminAddr = *slotAAdm
			case "slot-b-addr":
				cfg.Slots[1].Addr = *slotB
			case "slot-b-admin-addr":
				cfg.Slots[1].AdminAddr = *slotBAdm
			case "scrape-interval":
				cfg.ScrapeInterval = stack.Duration(*interval)
			case "store":
				cfg.Store = *store
				if *replicas == 0 && cfg.Store == stack.StorePostgres {
					cfg.Replicas = 3
				}
			case "replicas":
				cfg.Replicas = *replicas
			case "postgres-addr":
				cfg.PostgresAddr = *pgAddr
			}
		})
		if *moreAddrs != "" {
			if err := setReplicaAddrs(&cfg, *moreAddrs); err != nil {
				return exitCode{3, err}
			}
		}
		opt := stack.UpOptions{Version: *version, Binary: *binary, Revision: stack.GitRevision(ctx, c.repo)}
		if opt.Version == "" {
			opt.Version = stack.GitVersion(ctx, c.repo)
		}
		return cfg.Up(ctx, opt, stdout)
	case "down":
		cfg, err := loadStack(c)
		if errors.Is(err, errNoStack) {
			fmt.Fprintf(stdout, "no stack in %s: nothing to stop\n", c.state)
			return nil
		}
		if err != nil {
			return err
		}
		return cfg.Down(ctx, stdout)
	case "status":
		cfg, err := loadStack(c)
		if err != nil {
			return err
		}
		return cfg.Status(ctx, stdout)
	default:
		fmt.Fprintf(stderr, "unknown stack command %q (up, down, status)\n", sub)
		return exitCode{3, nil}
	}
}

// releaseFlags are the pipeline's flags, shared with replay-incident.
type releaseFlags struct {
	canaryWeight                      int
	steps                             string
	skipTests                         bool
	gateConfig, gateBinary            string
	gateInterval, gateWarmup, gateMax time.Duration
	plan                              bool
	planMax                           time.Duration
	planShares                        string
	testHealth                        testHealthFlags
}

func (r *releaseFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&r.canaryWeight, "canary-weight", 10, "canary's share of traffic in percent")
	fs.StringVar(&r.steps, "steps", "", "comma-separated canary shares analysed in turn, e.g. 10,50 (overrides --canary-weight)")
	fs.BoolVar(&r.skipTests, "skip-tests", false, "skip stage 2 (go test), e.g. when the pipeline runs inside go test")
	fs.StringVar(&r.gateConfig, "gate-config", "", "gate config (default ci/canary.yaml)")
	fs.StringVar(&r.gateBinary, "gate-binary", "", "gate binary (default: the one built with the release)")
	fs.DurationVar(&r.gateInterval, "gate-interval", 2*time.Second, "gate poll interval")
	fs.DurationVar(&r.gateWarmup, "gate-warmup", 5*time.Second, "gate warmup before the first decision")
	fs.DurationVar(&r.gateMax, "gate-max-duration", time.Minute, "analysis length with --plan=false (a canary not shown no worse by then is inconclusive and rolled back)")
	fs.BoolVar(&r.plan, "plan", true, "run gate plan first and analyse at the share and for the duration it recommends (instead of --canary-weight/--steps and --gate-max-duration)")
	fs.DurationVar(&r.planMax, "plan-max-duration", 15*time.Minute, "longest analysis the plan may recommend")
	fs.StringVar(&r.planShares, "plan-shares", "10,20,30,50", "canary shares in percent the plan may pick from, ascending")
	r.testHealth.register(fs)
}

func (r *releaseFlags) options(version, revision string, fault float64) (release.Options, error) {
	opt := release.Options{
		Version: version, Revision: revision, FaultErrorRate: fault,
		Steps: []int{r.canaryWeight}, SkipTests: r.skipTests,
		GateConfig: r.gateConfig, GateBinary: r.gateBinary,
		GateInterval: r.gateInterval, GateWarmup: r.gateWarmup, GateMaxDuration: r.gateMax,
		Plan: r.plan, PlanMaxDuration: r.planMax,
		TestHealth: r.testHealth.options(),
	}
	for _, s := range strings.Split(r.planShares, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return opt, fmt.Errorf("--plan-shares %q: %w", r.planShares, err)
		}
		opt.PlanShares = append(opt.PlanShares, n)
	}
	if r.steps != "" {
		opt.Steps = nil
		for _, s := range strings.Split(r.steps, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return opt, fmt.Errorf("--steps %q: %w", r.steps, err)
			}
			opt.Steps = append(opt.Steps, n)
		}
	}
	return opt, nil
}

func runRelease(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, getenv)
	var rf releaseFlags
	rf.register(fs)
	version := fs.String("version", "", "version to release (required)")
	revision := fs.String("revision", "", "revision stamped into the binary (default: git HEAD)")
	fault := fs.Float64("fault-error-rate", 0, "game days: share of the canary's requests answered 500")
	if err := fs.Parse(args); err != nil {
		return exitCode{3, nil}
	}
	if *version == "" {
		fmt.Fprintln(stderr, "release: --version is required")
		return exitCode{3, nil}
	}
	// Flags first: a mistyped flag is reported before the stack is looked at.
	opt, err := rf.options(*version, *revision, *fault)
	if err != nil {
		return exitCode{3, err}
	}
	cfg, err := resolveAndLoad(&c)
	if err != nil {
		return err
	}
	if opt.Revision == "" {
		opt.Revision = stack.GitRevision(ctx, c.repo)
	}
	p := &release.Pipeline{Stack: cfg, Out: stdout, Err: stderr}
	res := p.Run(ctx, opt)
	if res.ExitCode != 0 {
		return exitCode{res.ExitCode, nil}
	}
	return nil
}

func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release replay-incident", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, getenv)
	var rf releaseFlags
	rf.register(fs)
	o := replay.Options{}
	fs.Float64Var(&o.RPS, "rps", 150, "user requests per second through HAProxy")
	fs.Float64Var(&o.CreateShare, "create-share", 0.1, "share of requests that create a link (the rest follow one)")
	fs.Float64Var(&o.FaultErrorRate, "fault-error-rate", 0.3, "share of the bad version's requests answered 500")
	fs.StringVar(&o.BadVersion, "bad-version", "", "version name of the bad release (default <stable>-bad-<time>)")
	fs.StringVar(&o.GoodVersion, "good-version", "", "version name of the healthy release (default <stable>-good-<time>)")
	fs.DurationVar(&o.Settle, "settle", 5*time.Second, "steady load before and after each release")
	fs.DurationVar(&o.KillAfter, "kill-after", 20*time.Second, "also release a healthy version and kill its process this long after it is deployed, during the analysis (0: skip)")
	fs.DurationVar(&o.RollbackDeadline, "rollback-deadline", 90*time.Second, "longest allowed from canary traffic to rollback")
	fs.Float64Var(&o.MaxErrorShare, "max-error-share", 0.01, "largest allowed share of user requests answered 5xx")
	if err := fs.Parse(args); err != nil {
		return exitCode{3, nil}
	}
	opt, err := rf.options("x", "", 0)
	if err != nil {
		return exitCode{3, err}
	}
	cfg, err := resolveAndLoad(&c)
	if err != nil {
		return err
	}
	opt.Revision = stack.GitRevision(ctx, c.repo)
	o.Release = opt
	rep, err := replay.Run(ctx, cfg, o, stdout, stderr)
	if err != nil {
		return exitCode{3, err}
	}
	if !rep.Passed() {
		return exitCode{1, errors.New("replay-incident: some checks failed")}
	}
	return nil
}

func runRollback(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return exitCode{3, nil}
	}
	cfg, err := resolveAndLoad(&c)
	if err != nil {
		return err
	}
	p := &release.Pipeline{Stack: cfg, Out: stdout, Err: stderr}
	if _, err := p.Abort(ctx); err != nil {
		return exitCode{3, err}
	}
	return nil
}

// setReplicaAddrs reads --replica-addrs: public/admin pairs for replicas
// 2.. of slot a, then as many for slot b.
func setReplicaAddrs(cfg *stack.Config, list string) error {
	var eps []stack.Endpoint
	for _, pair := range strings.Split(list, ",") {
		pub, adm, ok := strings.Cut(strings.TrimSpace(pair), "/")
		if !ok || pub == "" || adm == "" {
			return fmt.Errorf("--replica-addrs: %q is not public/admin (e.g. 127.0.0.1:18083/127.0.0.1:18183)", pair)
		}
		eps = append(eps, stack.Endpoint{Addr: pub, AdminAddr: adm})
	}
	if len(eps)%2 != 0 {
		return fmt.Errorf("--replica-addrs: %d pairs; give as many for slot b as for slot a", len(eps))
	}
	half := len(eps) / 2
	cfg.Slots[0].More, cfg.Slots[1].More = eps[:half], eps[half:]
	return nil
}
