// Package bench is the benchmark harness behind `make bench`: it builds the
// shortener and a minimal baseline server, starts them on loopback ports,
// loads them with wrk (closed loop) and vegeta (open loop, fixed rate), and
// reports every figure as a ratio to the baseline measured in the same run,
// because absolute numbers on a shared machine are noise.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/obsshort/shortener/internal/freeport"
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
	// Parts are the parts of the run to do (PartRedirects, PartLatency,
	// PartCreates, PartPostgres, PartTransfer); empty: all. A shorter run for working
	// on one figure; the table says which rows were not measured.
	Parts []string
	Log   io.Writer // progress lines
}

// The parts of a run.
const (
	PartRedirects = "redirects" // closed-loop throughput: baseline, full, off, 1M uniform, 1M hot
	PartLatency   = "latency"   // open loop at Rate
	PartCreates   = "creates"   // durable creations on SQLite
	PartPostgres  = "postgres"  // every PostgreSQL figure and the cache-miss runs
	PartTransfer  = "transfer"  // shortener export and import of the small and the 1M-link database
)

// AllParts lists every part, in the order a run does them.
func AllParts() []string {
	return []string{PartRedirects, PartLatency, PartCreates, PartPostgres, PartTransfer}
}

// does reports whether the run includes part.
func (c Config) does(part string) bool { return len(c.Parts) == 0 || slices.Contains(c.Parts, part) }

// DefaultConfig is what `make bench` runs: about four minutes on 2 cores.
func DefaultConfig() Config {
	return Config{
		Duration: 10 * time.Second, Warmup: 3 * time.Second, Rounds: 3,
		SmallLinks: 10_000, LargeLinks: 1_000_000, Rate: 5000,
		WrkThreads: 1, WrkConns: 64, CreateClients: 32, Pin: true,
		Log: io.Discard,
	}
}

type harness struct {
	cfg        Config
	dir        string
	serverCPUs string
	loadCPUs   string
	bins       map[string]string
	procs      []*launch.Process
	ports      freeport.Picker // the servers' addresses, never one twice
	wrk        *wrkRunner
	sink       *otlpSink
	pg         *pgBench
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

	rep = &Report{Started: began, Machine: describeMachine(), Commit: gitCommit(cfg.Root), Latency: map[string]latencyResult{}}
	loadStart := loadAvg()
	rep.LoadStart = loadStart
	if err := h.setup(rep); err != nil {
		return nil, err
	}
	if err := h.build(ctx); err != nil {
		return nil, err
	}

	redirects, postgres := cfg.does(PartRedirects), cfg.does(PartPostgres)
	small := filepath.Join(dir, "small-full.db")
	smallOff := filepath.Join(dir, "small-off.db")
	large := filepath.Join(dir, "large-full.db")
	type fill struct {
		path string
		n    int
	}
	fills := []fill{{small, cfg.SmallLinks}}
	if redirects {
		fills = append(fills, fill{smallOff, cfg.SmallLinks})
	}
	// The 1M-link database serves the scale runs and is what the transfer
	// part exports (without it, an export of nothing "imported" 0 rows).
	if redirects || cfg.does(PartTransfer) {
		fills = append(fills, fill{large, cfg.LargeLinks})
	}
	for _, f := range fills {
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
	all := []*server{base, full} // every server started, for RSS and stopping
	var servers []*server        // the closed-loop rounds, in order
	profiled := []*server{full}  // with -profile
	if redirects {
		off, err := h.startShortener(ctx, "shortener-off-10k", smallOff, cfg.SmallLinks, false)
		if err != nil {
			return nil, err
		}
		big, err := h.startShortener(ctx, "shortener-full-1M", large, cfg.LargeLinks, true)
		if err != nil {
			return nil, err
		}
		// The same 1M-link process once more, with requests over only 10k
		// of its codes: what storing more links costs when the working
		// set is the same as in the 10k runs.
		bigHot := &server{name: "shortener-full-1M-hot", p: big.p, url: big.url, admin: big.admin, links: cfg.SmallLinks}
		all = append(all, off, big)
		servers = append(servers, base, full, off, big, bigHot)
		profiled = append(profiled, off, big, bigHot)
	}
	if postgres {
		// The same 10k links in a PostgreSQL database, and the cache-miss
		// runs on both stores.
		pg, err := h.startPostgresServers(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, pg...)
		if !redirects {
			servers = append(servers, base, full)
		}
		// Pairs compared with each other run one after the other in a
		// round (full and pg-10k, sqlite-miss and pg-miss), so that load
		// from elsewhere on the machine hits both alike.
		i := slices.Index(servers, full) + 1
		servers = slices.Insert(servers, i, pg[0])
		servers = append(servers, pg[1:]...)
	}
	if cfg.Compare != "" && redirects {
		db := filepath.Join(dir, "small-compare.db")
		if _, err := fillDB(ctx, db, cfg.SmallLinks); err != nil {
			return nil, err
		}
		cmp, err := h.startShortenerBin(ctx, h.bins["compare"], "compare-full-10k", db, cfg.SmallLinks, true)
		if err != nil {
			return nil, err
		}
		all = append(all, cmp)
		servers = append(servers, cmp)
	}

	for _, s := range servers {
		h.logf("warm-up %s for %s", s.name, cfg.Warmup)
		if _, err := h.wrk.run(ctx, s.url, s.links, cfg.Warmup); err != nil {
			return nil, err
		}
	}
	for round := range cfg.Rounds {
		if len(servers) == 0 {
			break
		}
		rr := RoundResult{}
		for _, s := range servers {
			cpu0, err := processCPU(s.p.Pid())
			if err != nil {
				return nil, err
			}
			r, err := h.wrk.run(ctx, s.url, s.links, cfg.Duration)
			if err != nil {
				return nil, err
			}
			cpu1, err := processCPU(s.p.Pid())
			if err != nil {
				return nil, err
			}
			r.ServerCPU = (cpu1 - cpu0).Seconds()
			if err := r.failed(); err != nil {
				return nil, fmt.Errorf("%s round %d: %w", s.name, round+1, err)
			}
			if err := s.p.Dead(); err != nil {
				return nil, err
			}
			h.logf("round %d/%d %-22s %8.0f req/s %6.1f us CPU/request", round+1, cfg.Rounds, s.name, r.RPS, 1e6*r.cpuPerRequest())
			rr[s.name] = r
		}
		rep.Rounds = append(rep.Rounds, rr)
	}

	if cfg.Profile {
		for _, s := range profiled {
			h.logf("CPU profile of %s under load", s.name)
			if err := h.profileUnderLoad(ctx, s, cfg.Duration, filepath.Join(cfg.OutDir, "profiles")); err != nil {
				return nil, err
			}
		}
	}

	if cfg.does(PartLatency) {
		for _, s := range []*server{base, full} {
			h.logf("open loop %d req/s on %s (warm-up 2s, then %s)", cfg.Rate, s.name, cfg.Duration)
			lr, err := measureLatency(ctx, s.url, s.links, cfg.Rate, 2*time.Second, cfg.Duration)
			if err != nil {
				return nil, err
			}
			h.logf("  p50 %s p99 %s p99.9 %s max %s, %d errors, %.0f req/s achieved", ms(lr.P50), ms(lr.P99), ms(lr.P999), ms(lr.Max), lr.Errors, lr.Achieved)
			rep.Latency[s.name] = lr
		}
	}

	rss := map[string]int64{}
	for _, s := range all {
		if rss[s.name], err = peakRSS(s.p.Pid()); err != nil {
			return nil, err
		}
	}
	for _, s := range all {
		if err := stopServer(s.p); err != nil {
			h.logf("%v", err)
		}
	}

	if cfg.does(PartCreates) {
		if rep.Creates, err = h.measureCreates(ctx, "shortener-creates", filepath.Join(h.dir, "creates.db")); err != nil {
			return nil, err
		}
	}
	if postgres {
		if err := h.comparePGCreates(ctx, rep); err != nil {
			return nil, err
		}
	}
	if cfg.does(PartTransfer) {
		h.logf("shortener export and import of %d and %d links", cfg.SmallLinks, cfg.LargeLinks)
		if rep.Transfer, err = measureTransfer(ctx, h.bins["shortener"], dir, small, large, cfg.SmallLinks, cfg.LargeLinks); err != nil {
			return nil, err
		}
	}
	rep.Setup = append(rep.Setup, fmt.Sprintf("OTLP sink received %d export requests (%s of spans) during the run", h.sink.requests.Load(), mib(h.sink.bytes.Load())))
	rep.LoadEnd = loadAvg()
	rep.Notes = append(rep.Notes, "load average (1 min) at start "+loadStart+", at end "+rep.LoadEnd+" on "+strconv.Itoa(runtime.NumCPU())+" CPUs: other work on the machine shares the cores, which the throughput ratios absorb only partly; the CPU-per-redirect rows (each server's CPU time over its requests) depend much less on it")
	if lb, ok := rep.Latency["baseline"]; ok && (lb.Achieved < 0.95*float64(cfg.Rate) || lb.Errors > 0) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the open-loop run could not hold %d req/s even against the baseline (%.0f req/s, %d errors, first: %s): the machine was saturated, so the latency figures of this run say nothing about the shortener", cfg.Rate, lb.Achieved, lb.Errors, lb.FirstError))
	}
	if cfg.TraceSampler != "" {
		rep.Notes = append(rep.Notes, "NOT the default setup: full-telemetry runs used OTEL_TRACES_SAMPLER "+cfg.TraceSampler)
	}
	rep.Figures = append(figures(cfg, rep, rss), transferFigures(rep.Transfer)...)
	rep.Elapsed = time.Since(began).Round(time.Second).String()
	if err := rep.write(cfg.OutDir); err != nil {
		return rep, err
	}
	return rep, nil
}

func (h *harness) cleanup() {
	for _, p := range h.procs {
		p.Kill()
	}
	if h.sink != nil {
		h.sink.close()
	}
	h.stopPostgres()
}
