package gate

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/obsshort/shortener/ci/gate/serve"
	"github.com/obsshort/shortener/internal/promclient"
)

// serveFlags are the flags of `gate serve` beyond the common ones; each has
// an environment fallback (GATE_SERVE_<NAME>), a flag given wins.
type serveFlags struct {
	commonFlags
	addr, stateDir string
	forgetAfter    time.Duration
	maxAnalyses    int
	sel            serve.Selectors
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	d := serve.DefaultSelectors()
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8090", "listen address (GATE_SERVE_ADDR)")
	fs.StringVar(&f.stateDir, "state-dir", "", "folder keeping the analyses across restarts; required (GATE_SERVE_STATE_DIR)")
	fs.DurationVar(&f.forgetAfter, "forget-after", 10*time.Minute, "forget a finished analysis no controller asked about for this long, so the canary can be judged afresh (GATE_SERVE_FORGET_AFTER)")
	fs.IntVar(&f.maxAnalyses, "max-analyses", 32, "analyses running at once; more get 503 (GATE_SERVE_MAX_ANALYSES)")
	fs.StringVar(&f.sel.ArgoCanary, "argo-canary", d.ArgoCanary, "label matchers of an Argo canary (text/template: .Namespace .Name .CanaryHash .StableHash) (GATE_SERVE_ARGO_CANARY)")
	fs.StringVar(&f.sel.ArgoBaseline, "argo-baseline", d.ArgoBaseline, "label matchers of an Argo baseline (GATE_SERVE_ARGO_BASELINE)")
	fs.StringVar(&f.sel.FlaggerCanary, "flagger-canary", d.FlaggerCanary, "label matchers of a Flagger canary (.Namespace .Name) (GATE_SERVE_FLAGGER_CANARY)")
	fs.StringVar(&f.sel.FlaggerBaseline, "flagger-baseline", d.FlaggerBaseline, "label matchers of a Flagger primary (GATE_SERVE_FLAGGER_BASELINE)")
}

// serveEnv are the flags that fall back to the environment.
var serveEnv = map[string]string{
	"addr": "GATE_SERVE_ADDR", "state-dir": "GATE_SERVE_STATE_DIR", "forget-after": "GATE_SERVE_FORGET_AFTER",
	"max-analyses": "GATE_SERVE_MAX_ANALYSES", "argo-canary": "GATE_SERVE_ARGO_CANARY", "argo-baseline": "GATE_SERVE_ARGO_BASELINE",
	"flagger-canary": "GATE_SERVE_FLAGGER_CANARY", "flagger-baseline": "GATE_SERVE_FLAGGER_BASELINE",
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	for name, env := range serveEnv {
		if v := getenv(env); v != "" {
			if err := fs.Set(name, v); err != nil {
				return usageErr(stderr, fmt.Errorf("%s=%q: %v", env, v, err))
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := f.load(fs)
	if err != nil {
		return usageErr(stderr, err)
	}
	warnPasswordInArgv(stderr, "--prometheus", f.prometheus)
	if err := cfg.Validate(); err != nil {
		return usageErr(stderr, err)
	}
	client, err := newPromClient(cfg.Prometheus, getenv)
	if err != nil {
		return usageErr(stderr, err)
	}
	defer client.Close()
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("component", "gate-serve")
	store, err := serve.OpenStore(serve.StoreOptions{
		Dir: f.stateDir, Runner: engineRunner{cfg: cfg, client: client}, ForgetAfter: f.forgetAfter, MaxRunning: f.maxAnalyses, Logger: log,
	})
	if err != nil {
		return usageErr(stderr, err)
	}
	defer store.Close() // running analyses are recorded as lost
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h, err := serve.NewServer(serve.Deps{Store: store, Selectors: f.sel, Registry: reg, Gatherer: reg, Logger: log})
	if err != nil {
		return usageErr(stderr, err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return usageErr(stderr, fmt.Errorf("--addr %s: %w", f.addr, err))
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go store.SweepEvery(sweepCtx, min(f.forgetAfter/4, time.Minute))
	log.Info("listening", "addr", ln.Addr().String(), "prometheus", promclient.RedactURL(cfg.Prometheus.URL), "state_dir", f.stateDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		return ExitUsage
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return ExitPass
}

// engineRunner runs the gate's own analysis (Analyze, as `gate analyze`
// does) for gate serve, with the selectors of one canary.
type engineRunner struct {
	cfg    Config
	client *promclient.Client
}

func (r engineRunner) Run(ctx context.Context, spec serve.Spec, progress io.Writer) (serve.Result, error) {
	cfg := r.cfg
	cfg.Selectors.Canary, cfg.Selectors.Baseline = spec.Canary, spec.Baseline
	if err := cfg.Validate(); err != nil {
		return serve.Result{}, err
	}
	v, err := Analyze(ctx, cfg, r.client, progress)
	if err != nil {
		return serve.Result{}, err
	}
	report, err := json.Marshal(newReport(cfg, v, NewEngine(cfg).AlphaPerCheck(), false))
	if err != nil {
		return serve.Result{}, fmt.Errorf("encode report: %w", err)
	}
	res := serve.Result{Reason: v.Reason, Report: report}
	switch v.Outcome {
	case Pass:
		res.Outcome = serve.Pass
	case Fail:
		res.Outcome = serve.Fail
	default:
		res.Outcome = serve.Inconclusive
	}
	return res, nil
}
