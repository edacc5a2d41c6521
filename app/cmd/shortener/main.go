// Command shortener serves the URL shortener: the web page, JSON API and
// redirects on the public listener; metrics, health and profiling on the
// admin listener. See --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/blocklist"
	"github.com/obsshort/shortener/app/instrumented"
	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Only the real process tunes the Go runtime: in-process tests of run
	// must not change their test binary's GC.
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, withGCTuning()); err != nil {
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "shortener: %v\n", err)
		os.Exit(1)
	}
}

const (
	// blocklistPollInterval is how often the blocklist file is checked for changes.
	blocklistPollInterval = 2 * time.Second
	// writeProbeInterval is how often the store's write health is probed
	// (one small row rewritten): the shortener_store_writable gauge and the
	// admin /readyz detail are at most this old.
	writeProbeInterval = 5 * time.Second
	// visitPruneInterval is how often per-day visit counts older than
	// --visit-retention-days are deleted.
	visitPruneInterval = time.Hour
)

// runOptions are decisions that belong to the process rather than to one
// run of the service; main makes them, in-process tests leave them off.
type runOptions struct {
	// tuneGC applies --gc-percent and --memory-limit-mib to the Go runtime,
	// which is process-wide.
	tuneGC bool
}

// runOption sets one of the runOptions.
type runOption func(*runOptions)

// withGCTuning makes run tune the Go garbage collector (applyGCSettings).
func withGCTuning() runOption { return func(o *runOptions) { o.tuneGC = true } }

// run starts the service and blocks until ctx ends, then shuts down
// gracefully: readiness turns false, in-flight requests drain, visit counts
// are flushed. It returns nil after a clean shutdown.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...runOption) error {
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		version, revision := telemetry.BuildVersion()
		_, err := fmt.Fprintf(stdout, "shortener %s (revision %s, %s)\n", version, revision, runtime.Version())
		return err
	}
	if len(args) > 0 {
		switch args[0] {
		case "migrate":
			return runMigrate(ctx, args[1:], getenv, stdout)
		case "export":
			return runExport(ctx, args[1:], getenv, stdout)
		case "import":
			return runImport(ctx, args[1:], getenv, stdout)
		}
	}
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	level, err := telemetry.ParseLevel(cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Lines are written out every 100 ms (or when 64 KiB are waiting), not
	// one system call per access line. A failed write is said once on
	// stderr and counted in shortener_log_write_errors_total.
	logOut := telemetry.NewBufferedWriter(stdout, 64<<10, 100*time.Millisecond, stderr)
	defer logOut.Close()
	logger := telemetry.NewLogger(logOut, level).With("component", "shortener")
	gcPercent, memLimitMiB := -1, -1 // left as the process has them
	memLimitFollows := false         // the limit follows the redirect cache's size
	if o.tuneGC {
		gcPercent, memLimitMiB, memLimitFollows = cfg.applyGCSettings(getenv)
	}

	reg := telemetry.NewRegistry()
	version, revision := telemetry.RegisterBuildInfo(reg)
	if err := logOut.RegisterMetrics(reg); err != nil {
		return fmt.Errorf("log metrics: %w", err)
	}
	var (
		metrics *telemetry.Metrics
		tracing *telemetry.Tracing
	)
	if cfg.Telemetry {
		metrics = telemetry.NewMetrics(reg, telemetry.Results{LinkCreated: app.CreateResults(), Redirect: app.RedirectResults()})
		tracing, err = telemetry.SetupTracing(ctx, getenv, "shortener", version)
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		if err := tracing.RegisterMetrics(reg); err != nil {
			return fmt.Errorf("tracing metrics: %w", err)
		}
		tracing.SetLogger(logger) // export failures as JSON lines, rate-limited
	}
	fault := server.Fault{ErrorRate: cfg.FaultErrorRate, Latency: cfg.FaultLatency, Routes: cfg.faultRoutes}
	metrics.SetFaultInjection(fault.Enabled())
	if fault.Enabled() {
		logger.Warn("FAULT INJECTION IS ON: this instance fails or delays requests on purpose",
			"fault_error_rate", fault.ErrorRate, "fault_latency", fault.Latency.String(), "fault_routes", fault.Routes)
	}

	keys, err := cfg.loadAdminKeys()
	if err != nil {
		return err
	}
	trusted, _ := server.ParseTrustedProxies(cfg.TrustedProxies) // validated in parseConfig

	kind := kindOf(cfg.DB)
	db, err := openDatabase(ctx, cfg, version)
	if err != nil {
		return err
	}
	defer db.Close()
	tracing.SetStoreSystem(kind.system)
	cookieKey, err := db.Secret(ctx, "cookie_key", 32)
	if err != nil {
		return err
	}
	codeKey, err := db.Secret(ctx, importCodeKey, 32)
	if err != nil {
		return err
	}

	var store app.LinkStore = db
	if cfg.Telemetry {
		store = &instrumented.Store{Next: db, Metrics: metrics, Tracing: tracing}
	}
	// Readiness reads (through the measured store, at most once a second);
	// write health comes from a background probe and from the real writes,
	// and never decides readiness.
	storeHealth := app.NewStoreHealth(store, db, app.StoreHealthOptions{
		OnWriteStatus: metrics.SetStoreWritable, OnReachable: metrics.SetStoreReachable,
		ServeUnreachable: kind.postgres,
	})
	store = storeHealth.WatchWrites(store)
	flushCtx, stopFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFlush()
	visits := app.NewVisitCounter(store, logger, metrics.VisitFlush)
	var flushDone sync.WaitGroup
	flushDone.Go(func() { visits.Run(flushCtx, cfg.VisitFlush) })

	// Cached links live until evicted. A change by any process (stable and
	// canary share the file; replicas share the PostgreSQL database) is
	// seen within half of --cache-ttl: on PostgreSQL at once through
	// notifications, the counter poll being the fallback. The compact
	// cache holds about 70 bytes a link (an LRU of *Link held about 500),
	// so every live link of a large database fits: it is filled at start.
	links := app.NewRedirectCache(cfg.CacheSize)
	cache := app.NewGuardedCache(links)
	if memLimitFollows {
		flushDone.Go(func() { followCacheMemory(flushCtx, links, time.Second) })
	}
	// The fill waits for the watch's first reading of the change counter:
	// a change committed after a page of the fill was read then moves the
	// counter past that reading, and the next poll drops the stale page.
	changes := newFirstRead(db)
	flushDone.Go(func() {
		select {
		case <-changes.read:
		case <-flushCtx.Done():
			return
		}
		start := time.Now()
		n, err := cache.Fill(flushCtx, db, cfg.CacheSize, time.Now)
		if err != nil && flushCtx.Err() == nil {
			logger.Warn("filling the redirect cache stopped; links are cached as they are requested", "links", n, "err", err)
			return
		}
		logger.Info("redirect cache filled", "links", n, "bytes", links.Bytes(), "took", time.Since(start).Round(time.Millisecond).String())
	})
	flushDone.Go(func() {
		// A database that is down fails every check: say so once a minute
		// (the poll and the feed both report here).
		var lastWarn atomic.Int64
		cache.WatchWith(flushCtx, changes, watchOptions(db, cfg.CacheTTL/2, func(err error) {
			now, last := time.Now().UnixNano(), lastWarn.Load()
			if now-last >= int64(time.Minute) && lastWarn.CompareAndSwap(last, now) {
				logger.Warn("link change check failed (said at most once a minute)", "err", err)
			}
		}, func(listening bool) {
			if listening {
				logger.Info("listening for link changes")
			} else {
				logger.Warn("link change notifications stopped; polling until they are back")
			}
		}))
	})

	base, _ := url.Parse(cfg.BaseURL)
	svc := &app.Service{
		Store:     store,
		Cache:     cache,
		Visits:    visits,
		SelfHosts: []string{base.Host, cfg.Addr},
		CodeKey:   codeKey,
	}
	if metrics != nil {
		svc.Observer = metrics
	}
	if cfg.BlocklistFile != "" {
		hosts, err := blocklist.Open(cfg.BlocklistFile, logger)
		if err != nil {
			return err
		}
		svc.Hosts = hosts
		flushDone.Go(func() { hosts.Run(flushCtx, blocklistPollInterval) })
		logger.Info("blocklist loaded", "path", cfg.BlocklistFile, "hosts", hosts.Len())
	}
	var limiter *server.RateLimiter
	if cfg.RateLimit > 0 {
		limiter = server.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, trusted)
	}
	flushDone.Go(func() { storeHealth.Run(flushCtx, writeProbeInterval) })
	flushDone.Go(func() { svc.RunVisitRetention(flushCtx, cfg.VisitRetention, visitPruneInterval, logger) })
	health := &server.Health{Store: storeHealth}
	deps := server.Deps{
		Service: svc, Logger: logger, Metrics: metrics, Tracing: tracing, Registry: reg,
		Health: health, BaseURL: cfg.BaseURL, RedirectStatus: cfg.RedirectStatus,
		AdminKeys: keys, CookieKey: cookieKey, Fault: fault, Limiter: limiter,
		Guesses: server.NewGuessLimiter(trusted), MaxImportBytes: int64(cfg.ImportMaxMiB) << 20,
	}

	publicLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("listen %s: %w", cfg.AdminAddr, err)
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	public := &http.Server{
		Handler:           server.NewPublic(deps),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errLog,
	}
	admin := &http.Server{
		Handler:           server.NewAdmin(deps),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          errLog,
		// No WriteTimeout: CPU profiles stream for their whole duration.
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- public.Serve(netutil.LimitListener(publicLn, cfg.MaxConnections)) }()
	go func() { serveErr <- admin.Serve(adminLn) }()
	logger.Info("shortener started",
		"addr", publicLn.Addr().String(), "admin_addr", adminLn.Addr().String(), "db", dbForLogs(cfg.DB),
		"base_url", cfg.BaseURL, "version", version, "revision", revision, "go", runtime.Version(),
		"telemetry", cfg.Telemetry, "tracing_export", tracing.Exporting(), "admin_keys", keys.Len(),
		"gc_percent", gcPercent, "memory_limit_mib", memLimitMiB)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutdown requested; readiness off, draining", "drain_delay", cfg.DrainDelay.String())
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
		logger.Error("listener failed; shutting down", "err", err)
	}
	health.Drain()
	if runErr == nil {
		time.Sleep(cfg.DrainDelay)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := public.Shutdown(shutCtx); err != nil {
		logger.Error("public listener did not drain in time", "err", err)
		runErr = errors.Join(runErr, fmt.Errorf("drain public listener: %w", err))
	}
	if err := admin.Shutdown(shutCtx); err != nil {
		logger.Warn("admin listener did not drain in time", "err", err)
	}
	stopFlush()
	flushDone.Wait()
	if err := tracing.Shutdown(shutCtx); err != nil {
		logger.Warn("trace export at shutdown failed", "err", err)
	}
	logger.Info("shortener stopped")
	return runErr
}
