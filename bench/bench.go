// Package bench is the benchmark harness behind `make bench`: it builds the
// shortener and a minimal baseline server, starts them on loopback ports,
// loads them with wrk (closed loop) and vegeta (open loop, fixed rate), and
// reports every figure as a ratio to the baseline measured in the same run,
// because absolute numbers on a shared machine are noise.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/launch"
)

// Config sets what a run measures and how long each measurement takes.
type Config struct {
	Root          string        // module root (holds go.mod)
	OutDir        string        // where results.json and results.md go
	Duration      time.Duration // each measurement
	Warmup        time.Duration // before the first round, per server
	Rounds        int           // closed-loop rounds, interleaved across servers
	SmallLinks    int           // links stored for the main runs
	LargeLinks    int           // links stored for the scale run
	Rate          int           // open-loop requests per second
	WrkThreads    int
	WrkConns      int
	CreateClients int
	// Pin puts servers on the last CPU and load generators (wrk, vegeta,
	// this harness, the OTLP sink) on the others, when there are at least 2.
	Pin bool
	// Profile takes a CPU profile of each shortener under load after the
	// measured rounds, into OutDir/profiles.
	Profile bool
	// Shortener, when set, is a prebuilt shortener binary to measure instead
	// of building the working tree (for before/after comparisons).
	Shortener string
	// Compare, when set, is another shortener binary (say, the previous
	// commit) measured in the same rounds as "compare-full-10k", so a
	// change's before/after ratio comes from one run.
	Compare string
	// TraceSampler, as "name" or "name:arg" (OTEL_TRACES_SAMPLER[_ARG]),
	// replaces the service's default sampler in the full-telemetry runs: to
	// show what sampling would save, never for the reported table.
	TraceSampler string
	Log          io.Writer // progress lines
}

// DefaultConfig is what `make bench` runs: about four minutes on 2 cores.
func DefaultConfig() Config {
	return Config{
		Duration: 10 * time.Second, Warmup: 3 * time.Second, Rounds: 3,
		SmallLinks: 10_000, LargeLinks: 1_000_000, Rate: 5000,
		WrkThreads: 1, WrkConns: 64, CreateClients: 32, Pin: true,
		Log: io.Discard,
	}
}

// server is a started HTTP server under test.
type server struct {
	name  string
	p     *launch.Process
	url   string // public base URL
	admin string // admin base URL ("" for the baseline)
	links int
}

type harness struct {
	cfg        Config
	dir        string
	serverCPUs string
	loadCPUs   string
	bins       map[string]string
	procs      []*launch.Process
	wrk        *wrkRunner
	sink       *otlpSink
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.cfg.Log, "bench: "+format+"\n", args...)
}

// Run measures everything and writes the report into cfg.OutDir.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	began := time.Now()
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "shortener-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	h := &harness{cfg: cfg, dir: dir, bins: map[string]string{}}
	defer h.cleanup()

	rep = &Report{Started: began, Machine: describeMachine(), Latency: map[string]latencyResult{}}
	loadStart := loadAvg()
	if err := h.setup(rep); err != nil {
		return nil, err
	}
	if err := h.build(ctx); err != nil {
		return nil, err
	}

	small := filepath.Join(dir, "small-full.db")
	smallOff := filepath.Join(dir, "small-off.db")
	large := filepath.Join(dir, "large-full.db")
	for _, f := range []struct {
		path string
		n    int
	}{{small, cfg.SmallLinks}, {smallOff, cfg.SmallLinks}, {large, cfg.LargeLinks}} {
		took, err := fillDB(ctx, f.path, f.n)
		if err != nil {
			return nil, err
		}
		h.logf("filled %s with %d links in %s", filepath.Base(f.path), f.n, took.Round(time.Millisecond))
		if f.path == large {
			rep.Setup = append(rep.Setup, fmt.Sprintf("%d links written with one SQL statement (recursive CTE) into the service's schema in %s before the server starts", f.n, took.Round(100*time.Millisecond)))
		}
	}

	if h.sink, err = startSink(); err != nil {
		return nil, err
	}
	base, err := h.startBaseline(ctx, cfg.SmallLinks)
	if err != nil {
		return nil, err
	}
	full, err := h.startShortener(ctx, "shortener-full-10k", small, cfg.SmallLinks, true)
	if err != nil {
		return nil, err
	}
	off, err := h.startShortener(ctx, "shortener-off-10k", smallOff, cfg.SmallLinks, false)
	if err != nil {
		return nil, err
	}
	big, err := h.startShortener(ctx, "shortener-full-1M", large, cfg.LargeLinks, true)
	if err != nil {
		return nil, err
	}
	// The same 1M-link process once more, with requests over only 10k of
	// its codes: what storing more links costs when the working set is the
	// same as in the 10k runs (uniform over all 1M mostly measures cache
	// misses, since the default cache holds 100k links).
	bigHot := &server{name: "shortener-full-1M-hot", p: big.p, url: big.url, admin: big.admin, links: cfg.SmallLinks}
	servers := []*server{base, full, off, big, bigHot}
	if cfg.Compare != "" {
		db := filepath.Join(dir, "small-compare.db")
		if _, err := fillDB(ctx, db, cfg.SmallLinks); err != nil {
			return nil, err
		}
		cmp, err := h.startShortenerBin(ctx, h.bins["compare"], "compare-full-10k", db, cfg.SmallLinks, true)
		if err != nil {
			return nil, err
		}
		servers = append(servers, cmp)
	}

	for _, s := range servers {
		h.logf("warm-up %s for %s", s.name, cfg.Warmup)
		if _, err := h.wrk.run(ctx, s.url, s.links, cfg.Warmup); err != nil {
			return nil, err
		}
	}
	for round := range cfg.Rounds {
		rr := RoundResult{}
		for _, s := range servers {
			r, err := h.wrk.run(ctx, s.url, s.links, cfg.Duration)
			if err != nil {
				return nil, err
			}
			if err := r.failed(); err != nil {
				return nil, fmt.Errorf("%s round %d: %w", s.name, round+1, err)
			}
			if err := s.p.Dead(); err != nil {
				return nil, err
			}
			h.logf("round %d/%d %-20s %8.0f req/s", round+1, cfg.Rounds, s.name, r.RPS)
			rr[s.name] = r
		}
		rep.Rounds = append(rep.Rounds, rr)
	}

	if cfg.Profile {
		for _, s := range []*server{full, off, big} {
			h.logf("CPU profile of %s under load", s.name)
			if err := h.profileUnderLoad(ctx, s, cfg.Duration, filepath.Join(cfg.OutDir, "profiles")); err != nil {
				return nil, err
			}
		}
	}

	for _, s := range []*server{base, full} {
		h.logf("open loop %d req/s on %s (warm-up 2s, then %s)", cfg.Rate, s.name, cfg.Duration)
		if _, err := measureLatency(ctx, s.url, s.links, cfg.Rate, 2*time.Second); err != nil {
			return nil, err
		}
		lr, err := measureLatency(ctx, s.url, s.links, cfg.Rate, cfg.Duration)
		if err != nil {
			return nil, err
		}
		h.logf("  p50 %s p99 %s p99.9 %s max %s, %d errors, %.0f req/s achieved", ms(lr.P50), ms(lr.P99), ms(lr.P999), ms(lr.Max), lr.Errors, lr.Achieved)
		rep.Latency[s.name] = lr
	}

	rss := map[string]int64{}
	for _, s := range servers {
		if rss[s.name], err = peakRSS(s.p.Pid()); err != nil {
			return nil, err
		}
	}
	for _, s := range servers {
		if err := stopServer(s.p); err != nil {
			h.logf("%v", err)
		}
	}

	if rep.Creates, err = h.measureCreates(ctx); err != nil {
		return nil, err
	}
	rep.Setup = append(rep.Setup, fmt.Sprintf("OTLP sink received %d export requests (%s of spans) during the run", h.sink.requests.Load(), mib(h.sink.bytes.Load())))
	rep.Notes = append(rep.Notes, "load average (1 min) at start "+loadStart+", at end "+loadAvg()+" on "+strconv.Itoa(runtime.NumCPU())+" CPUs: other work on the machine shares the cores, which the ratios to the baseline absorb only partly")
	if lb := rep.Latency["baseline"]; lb.Achieved < 0.95*float64(cfg.Rate) || lb.Errors > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the open-loop run could not hold %d req/s even against the baseline (%.0f req/s, %d errors, first: %s): the machine was saturated, so the latency figures of this run say nothing about the shortener", cfg.Rate, lb.Achieved, lb.Errors, lb.FirstError))
	}
	if cfg.TraceSampler != "" {
		rep.Notes = append(rep.Notes, "NOT the default setup: full-telemetry runs used OTEL_TRACES_SAMPLER "+cfg.TraceSampler)
	}
	rep.Figures = figures(cfg, rep, rss)
	rep.Elapsed = time.Since(began).Round(time.Second).String()
	if err := rep.write(cfg.OutDir); err != nil {
		return rep, err
	}
	return rep, nil
}

// setup decides the CPU split and records how the run is done.
func (h *harness) setup(rep *Report) error {
	cfg := h.cfg
	n := runtime.NumCPU()
	if cfg.Pin && n >= 2 {
		if _, err := lookTool("taskset"); err != nil {
			return err
		}
		h.serverCPUs = strconv.Itoa(n - 1)
		h.loadCPUs = "0"
		if n > 2 {
			h.loadCPUs = "0-" + strconv.Itoa(n-2)
		}
		// Threads created later inherit the affinity, so the vegeta workers,
		// create clients and OTLP sink stay off the server's CPU.
		if out, err := exec.Command("taskset", "-a", "-p", "-c", h.loadCPUs, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return fmt.Errorf("pin harness to CPUs %s: %w: %s", h.loadCPUs, err, out)
		}
		rep.Setup = append(rep.Setup, fmt.Sprintf("servers pinned with taskset to CPU %s (so GOMAXPROCS=1 for them); wrk, vegeta, the create clients and the OTLP sink on CPU %s", h.serverCPUs, h.loadCPUs))
	} else {
		rep.Setup = append(rep.Setup, "no CPU pinning: servers and load generators share all CPUs")
	}
	var err error
	h.wrk, err = newWrkRunner(h.dir, h.loadCPUs, cfg.WrkThreads, cfg.WrkConns)
	if err != nil {
		return err
	}
	rep.Setup = append(rep.Setup,
		fmt.Sprintf("closed loop: wrk -t%d -c%d, %s per run, a Lua script requesting uniformly random codes among the stored links; %d rounds, each round runs every server once in turn (after a %s warm-up each); throughput is the median over rounds, ratios are medians of the per-round ratios", cfg.WrkThreads, cfg.WrkConns, cfg.Duration, cfg.Rounds, cfg.Warmup),
		fmt.Sprintf("open loop: vegeta v12 as a library at %d req/s for %s (after 2 s at the same rate), uniformly random codes, redirects not followed; latency from dispatch to the end of the body, exact percentiles over all samples", cfg.Rate, cfg.Duration),
		"shortener flags: --rate-limit 0 (the default limiter answers 429 to one client), default --log-level info with stdout (one JSON access-log line per request) to /dev/null, the service's defaults for --cache-size, --cache-ttl and --db-readers",
		"full telemetry: Prometheus metrics with exemplars, tracing with the service's default sampler (parentbased_traceidratio 0.1 unless -trace-sampler says otherwise) exported over OTLP/HTTP to an in-harness sink on /v1/traces that answers 200 and drops the data",
		fmt.Sprintf("durable creation: %d concurrent keep-alive clients POST /api/v1/links for %s; the server is killed with SIGKILL at the end of the window while requests are in flight, restarted, and every code acknowledged with 201 is requested again and must redirect to its URL", cfg.CreateClients, cfg.Duration),
	)
	return nil
}

func (h *harness) build(ctx context.Context) error {
	for name, pkg := range map[string]string{"shortener": "./app/cmd/shortener", "baseline": "./bench/baseline"} {
		out := filepath.Join(h.dir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = h.cfg.Root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", pkg, err, b)
		}
		h.bins[name] = out
	}
	if h.cfg.Compare != "" {
		h.bins["compare"] = h.cfg.Compare
	}
	if h.cfg.Shortener != "" {
		h.bins["shortener"] = h.cfg.Shortener
	}
	h.logf("built shortener and baseline")
	return nil
}

func (h *harness) cleanup() {
	for _, p := range h.procs {
		p.Kill()
	}
	if h.sink != nil {
		h.sink.close()
	}
}

func (h *harness) startBaseline(ctx context.Context, links int) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startServer("baseline", h.serverCPUs, nil, h.bins["baseline"], "-addr", addr, "-links", strconv.Itoa(links))
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	s := &server{name: "baseline", p: p, url: "http://" + addr, links: links}
	return s, waitReady(ctx, p, s.url+"/healthz", 15*time.Second)
}

func (h *harness) startShortener(ctx context.Context, name, db string, links int, telemetry bool) (*server, error) {
	return h.startShortenerBin(ctx, h.bins["shortener"], name, db, links, telemetry)
}

func (h *harness) startShortenerBin(ctx context.Context, bin, name, db string, links int, telemetry bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--addr", addr, "--admin-addr", admin, "--db", db, "--rate-limit", "0",
		"--telemetry=" + strconv.FormatBool(telemetry), "--drain-delay", "0s", "--shutdown-timeout", "5s"}
	// The harness's own environment must not change what is measured.
	env := []string{"OTEL_SDK_DISABLED=", "OTEL_TRACES_SAMPLER=", "OTEL_TRACES_EXPORTER=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="}
	if telemetry {
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+h.sink.url)
		if name, arg, ok := strings.Cut(h.cfg.TraceSampler, ":"); h.cfg.TraceSampler != "" {
			env = append(env, "OTEL_TRACES_SAMPLER="+name)
			if ok {
				env = append(env, "OTEL_TRACES_SAMPLER_ARG="+arg)
			}
		}
	} else {
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT=")
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SHORTENER_") {
			env = append(env, strings.SplitN(kv, "=", 2)[0]+"=")
		}
	}
	p, err := startServer(name, h.serverCPUs, env, bin, args...)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	s := &server{name: name, p: p, url: "http://" + addr, admin: "http://" + admin, links: links}
	return s, waitReady(ctx, p, s.admin+"/readyz", 30*time.Second)
}

func (h *harness) measureCreates(ctx context.Context) (createResult, error) {
	db := filepath.Join(h.dir, "creates.db")
	s, err := h.startShortener(ctx, "shortener-creates", db, 0, true)
	if err != nil {
		return createResult{}, err
	}
	res := createResult{Clients: h.cfg.CreateClients}
	h.logf("durable creates: %d clients for %s, then kill -9", h.cfg.CreateClients, h.cfg.Duration)
	killed := make(chan struct{})
	stop := time.AfterFunc(h.cfg.Duration, func() { s.p.Kill(); close(killed) })
	defer stop.Stop()
	// The clients' window is a little longer than the server's life, so the
	// kill lands while requests are in flight.
	acked, failures, took, err := createLoad(ctx, s.url, h.cfg.CreateClients, h.cfg.Duration+500*time.Millisecond)
	<-killed
	if err != nil {
		return res, err
	}
	res.Created = len(acked)
	res.Seconds = min(took, h.cfg.Duration).Seconds()
	res.PerSec = float64(res.Created) / res.Seconds
	res.Failures = failures
	h.logf("  %d links acknowledged (%.0f/s); restarting on the same database", res.Created, res.PerSec)

	again, err := h.startShortener(ctx, "shortener-restarted", db, 0, true)
	if err != nil {
		return res, fmt.Errorf("restart after kill -9: %w", err)
	}
	res.Verified = len(acked)
	if res.Resolved, res.Missing, err = verifyLinks(ctx, again.url, acked); err != nil {
		return res, err
	}
	if err := stopServer(again.p); err != nil {
		h.logf("%v", err)
	}
	h.logf("  durable: %d/%d resolved", res.Resolved, res.Verified)
	if res.Created == 0 {
		return res, errors.New("durable creates: no link was acknowledged")
	}
	return res, nil
}

// figures turns the measurements into the table rows.
func figures(cfg Config, rep *Report, rss map[string]int64) []Figure {
	const (
		base = "baseline"
		full = "shortener-full-10k"
		off  = "shortener-off-10k"
		big  = "shortener-full-1M"
		hot  = "shortener-full-1M-hot"
	)
	med := func(name string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			v = append(v, r[name].RPS)
		}
		return median(v)
	}
	ratio := func(num, den string) float64 {
		var v []float64
		for _, r := range rep.Rounds {
			if r[den].RPS > 0 {
				v = append(v, r[num].RPS/r[den].RPS)
			}
		}
		return median(v)
	}
	rps := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	baseRPS := med(base)
	fullRatio, offRatio, bigRatio := ratio(full, base), ratio(off, base), ratio(big, base)
	cost := 1 - ratio(full, off)
	scale := ratio(big, full)
	scaleHot := ratio(hot, full)
	lb, lf := rep.Latency[base], rep.Latency[full]
	lr := func(a, b time.Duration) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	cr := rep.Creates
	const rssLimit = 150_000_000
	small, large := fmt.Sprintf("%dk", cfg.SmallLinks/1000), humanCount(cfg.LargeLinks)
	figs := []Figure{
		{Key: "baseline_rps", Name: "baseline redirects (net/http + map), " + small + " links", Value: baseRPS, Unit: "req/s", Text: rps(baseRPS), Ratio: 1},
		{Key: "full_rps", Name: "shortener redirects, full telemetry, " + small + " links", Value: med(full), Unit: "req/s", Text: rps(med(full)), Ratio: fullRatio, Target: "≥ 0.80 × baseline", Met: boolp(fullRatio >= 0.80)},
		{Key: "off_rps", Name: "shortener redirects, telemetry off, " + small + " links", Value: med(off), Unit: "req/s", Text: rps(med(off)), Ratio: offRatio},
		{Key: "telemetry_cost", Name: "telemetry cost (1 − full/off)", Value: cost, Unit: "ratio", Text: fmt.Sprintf("%.1f %%", 100*cost), Target: "≤ 10 %", Met: boolp(cost <= 0.10)},
		{Key: "p50", Name: fmt.Sprintf("p50 redirect latency at %d req/s (full telemetry)", cfg.Rate), Value: lf.P50.Seconds(), Unit: "s", Text: ms(lf.P50), Ratio: lr(lf.P50, lb.P50)},
		{Key: "p99", Name: fmt.Sprintf("p99 redirect latency at %d req/s", cfg.Rate), Value: lf.P99.Seconds(), Unit: "s", Text: ms(lf.P99), Ratio: lr(lf.P99, lb.P99), Target: "< 2 ms", Met: boolp(lf.P99 < 2*time.Millisecond)},
		{Key: "p999", Name: fmt.Sprintf("p99.9 redirect latency at %d req/s", cfg.Rate), Value: lf.P999.Seconds(), Unit: "s", Text: ms(lf.P999), Ratio: lr(lf.P999, lb.P999), Target: "< 10 ms", Met: boolp(lf.P999 < 10*time.Millisecond)},
		{Key: "open_loop_errors", Name: "open-loop run: achieved rate, non-302 answers", Value: float64(lf.Errors), Unit: "errors", Text: fmt.Sprintf("%.0f req/s, %d errors of %d", lf.Achieved, lf.Errors, lf.Requests), Target: "0 errors", Met: boolp(lf.Errors == 0)},
		{Key: "creates_per_s", Name: "durable link creations (POST /api/v1/links → 201)", Value: cr.PerSec, Unit: "1/s", Text: fmt.Sprintf("%.0f /s", cr.PerSec), Ratio: cr.PerSec / baseRPS, Target: "≥ 5,000 /s", Met: boolp(cr.PerSec >= 5000)},
		{Key: "durable", Name: "acknowledged links resolving after kill -9 and restart", Value: float64(cr.Resolved), Unit: "links", Text: fmt.Sprintf("durable: %d/%d resolved", cr.Resolved, cr.Verified), Target: "all", Met: boolp(cr.Verified > 0 && cr.Resolved == cr.Verified)},
		{Key: "large_rps", Name: "shortener redirects, full telemetry, " + large + " links, requests uniform over all", Value: med(big), Unit: "req/s", Text: rps(med(big)), Ratio: bigRatio},
		{Key: "scale", Name: large + " links (uniform over all) vs " + small + " links throughput", Value: scale, Unit: "ratio", Text: fmt.Sprintf("%.2f", scale), Target: "≥ 0.90", Met: boolp(scale >= 0.90)},
		{Key: "large_hot_rps", Name: "shortener redirects, full telemetry, " + large + " links stored, requests over " + small + " of them", Value: med(hot), Unit: "req/s", Text: rps(med(hot)), Ratio: ratio(hot, base)},
		{Key: "scale_hot", Name: large + " links stored vs " + small + " stored, same " + small + "-code working set", Value: scaleHot, Unit: "ratio", Text: fmt.Sprintf("%.2f", scaleHot), Target: "≥ 0.90", Met: boolp(scaleHot >= 0.90)},
		{Key: "rss_small", Name: "peak RSS (VmHWM), " + small + " links", Value: float64(rss[full]), Unit: "bytes", Text: mb(rss[full]), Ratio: float64(rss[full]) / float64(rss[base])},
		{Key: "rss_large", Name: "peak RSS (VmHWM), " + large + " links", Value: float64(rss[big]), Unit: "bytes", Text: mb(rss[big]), Ratio: float64(rss[big]) / float64(rss[base]), Target: "< 150 MB", Met: boolp(rss[big] < rssLimit)},
	}
	if cfg.Compare != "" {
		const cmp = "compare-full-10k"
		figs = append(figs,
			Figure{Key: "compare_rps", Name: "compared binary, full telemetry, " + small + " links", Value: med(cmp), Unit: "req/s", Text: rps(med(cmp)), Ratio: ratio(cmp, base)},
			Figure{Key: "compare_change", Name: "this build vs compared binary (full telemetry)", Value: ratio(full, cmp), Unit: "ratio", Text: fmt.Sprintf("%.2f", ratio(full, cmp))},
		)
	}
	return figs
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/1e6) }

// describeMachine reads nproc, the CPU model, the kernel and tool versions.
func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("wrk", "--version").CombinedOutput(); len(out) > 0 {
		_ = err // wrk --version exits 1 after printing its version
		m.Wrk = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	return m
}

// loadAvg returns the 1-minute load average from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}
