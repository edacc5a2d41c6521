package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/server"
)

// config is the service configuration: every flag has an environment
// fallback named SHORTENER_<FLAG> (upper case, dashes as underscores); a flag
// on the command line wins. Secrets (admin keys) come only from a file or the
// environment, never from argv.
type config struct {
	Addr              string
	AdminAddr         string
	DB                string
	BaseURL           string
	RedirectStatus    int
	AdminKeysFile     string
	FaultErrorRate    float64
	FaultLatency      time.Duration
	FaultRoutes       string
	LogLevel          string
	Telemetry         bool
	ShutdownTimeout   time.Duration
	DrainDelay        time.Duration
	CacheSize         int
	CacheTTL          time.Duration
	VisitFlush        time.Duration
	RateLimit         float64
	RateBurst         int
	TrustedProxies    string
	MaxConnections    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	Readers           int
	DBPool            int
	DBTimeout         time.Duration
	GCPercent         int
	MemoryLimitMiB    int
	BlocklistFile     string
	ImportMaxMiB      int
	VisitRetention    int // days

	adminKeys   string   // from SHORTENER_ADMIN_KEYS only
	faultRoutes []string // FaultRoutes, parsed by validate
}

const envPrefix = "SHORTENER_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads flags with environment fallbacks. errHelp is returned
// (with usage written to stdout) for -h/--help.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("shortener", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "public listener (web page, API, redirects, /healthz, /readyz)")
	fs.StringVar(&c.AdminAddr, "admin-addr", "127.0.0.1:8081", "operator listener (/metrics, /healthz, /readyz with write health, /debug/pprof/)")
	fs.StringVar(&c.DB, "db", "./data/shortener.db", "SQLite database file (created with its schema on first start), or a postgres:// URL for many replicas on one PostgreSQL (password from PGPASSWORD or PGPASSFILE, never in the URL)")
	fs.StringVar(&c.BaseURL, "base-url", "", "base of the short URLs shown to users (default http://<addr>)")
	fs.IntVar(&c.RedirectStatus, "redirect-status", 302, "redirect status code: 301, 302, 307 or 308")
	fs.StringVar(&c.AdminKeysFile, "admin-keys-file", "", "file of admin API keys (one per line, or sha256:<hex>); or set SHORTENER_ADMIN_KEYS (comma-separated)")
	fs.Float64Var(&c.FaultErrorRate, "fault-error-rate", 0, "game days only: share (0 to 1) of public requests answered 500")
	fs.DurationVar(&c.FaultLatency, "fault-latency", 0, "game days only: delay added to every public request")
	fs.StringVar(&c.FaultRoutes, "fault-routes", "", "game days only: comma-separated route patterns (as in http_route, e.g. /{code}) the faults above are limited to (default: every public route)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.BoolVar(&c.Telemetry, "telemetry", true, "request metrics and tracing (false only for benchmarks)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	fs.DurationVar(&c.DrainDelay, "drain-delay", time.Second, "on SIGTERM, how long /readyz reports 503 before listeners close (lets load balancers notice)")
	fs.IntVar(&c.CacheSize, "cache-size", 2_000_000, "links kept in the redirect cache (about 30 bytes each plus code and URL; filled with the live links at start)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", time.Second, "bound on how late a cached link reflects a delete or change by another process (the database's change counter is checked every half of it; PostgreSQL also notifies at once)")
	fs.DurationVar(&c.VisitFlush, "visit-flush-interval", 5*time.Second, "how often visit counts are written to the database (counts of the last interval are lost on SIGKILL)")
	fs.Float64Var(&c.RateLimit, "rate-limit", 50, "link creations per second allowed per client address (0 disables)")
	fs.IntVar(&c.RateBurst, "rate-burst", 100, "burst of link creations allowed per client address")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated IPs/CIDRs of proxies whose X-Forwarded-For is believed")
	fs.IntVar(&c.MaxConnections, "max-connections", 4096, "open connections accepted on the public listener")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time allowed to read request headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 10*time.Second, "time allowed to read a whole request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 30*time.Second, "time allowed to write a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 60*time.Second, "keep-alive idle timeout")
	fs.IntVar(&c.Readers, "db-readers", 4, "SQLite: read connections to the database file")
	fs.IntVar(&c.DBPool, "db-pool", 10, "PostgreSQL: connections in the pool (callers beyond it queue, up to --db-timeout)")
	fs.DurationVar(&c.DBTimeout, "db-timeout", 5*time.Second, "PostgreSQL: bound on each database call, the wait for a free pooled connection included")
	fs.IntVar(&c.GCPercent, "gc-percent", 400, "Go GC target percentage (the GOGC environment variable wins when set)")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit-mib", 0, "Go soft memory limit in MiB; 0: 32 MiB above the redirect cache's size, following it as it fills (GOMEMLIMIT wins when set)")
	fs.StringVar(&c.BlocklistFile, "blocklist-file", "", "file of blocked target hosts, one per line (# comments; a host blocks its subdomains); reloaded when it changes")
	fs.IntVar(&c.ImportMaxMiB, "import-max-mib", 512, "largest file POST /api/v1/import accepts, in MiB (read as a stream: this bounds time, not memory)")
	fs.IntVar(&c.VisitRetention, "visit-retention-days", 365, "days of per-day visit counts kept (today included); older days are deleted hourly, totals stay")

	// Environment first, so flags given on the command line override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return nil, errHelp
		}
		return nil, fmt.Errorf("%w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	c.adminKeys = getenv("SHORTENER_ADMIN_KEYS")
	return c, c.validate()
}

var errHelp = errors.New("help requested")

func (c *config) validate() error {
	switch c.RedirectStatus {
	case 301, 302, 307, 308:
	default:
		return fmt.Errorf("--redirect-status %d: must be 301, 302, 307 or 308", c.RedirectStatus)
	}
	if c.FaultErrorRate < 0 || c.FaultErrorRate > 1 {
		return fmt.Errorf("--fault-error-rate %v: must be between 0 and 1", c.FaultErrorRate)
	}
	if c.FaultLatency < 0 {
		return fmt.Errorf("--fault-latency %v: must not be negative", c.FaultLatency)
	}
	routes, err := server.ParseFaultRoutes(c.FaultRoutes)
	if err != nil {
		return fmt.Errorf("--fault-routes %q: %w", c.FaultRoutes, err)
	}
	c.faultRoutes = routes
	if c.FaultRoutes != "" && c.FaultErrorRate == 0 && c.FaultLatency == 0 {
		return fmt.Errorf("--fault-routes %q limits --fault-error-rate and --fault-latency, and neither is set", c.FaultRoutes)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: want host:port", c.Addr)
	}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		return fmt.Errorf("--admin-addr %q: want host:port", c.AdminAddr)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--base-url %q: want an absolute http(s) URL such as https://sho.rt", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.CacheSize < 1 {
		return fmt.Errorf("--cache-size %d: must be at least 1", c.CacheSize)
	}
	if c.CacheTTL < 10*time.Millisecond {
		return fmt.Errorf("--cache-ttl %v: must be at least 10ms", c.CacheTTL)
	}
	if c.VisitFlush <= 0 {
		return fmt.Errorf("--visit-flush-interval must be positive")
	}
	if c.RateLimit < 0 || (c.RateLimit > 0 && c.RateBurst < 1) {
		return fmt.Errorf("--rate-limit must be >= 0 and --rate-burst >= 1")
	}
	if _, err := server.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies %q: %v", c.TrustedProxies, err)
	}
	if c.GCPercent < 10 {
		return fmt.Errorf("--gc-percent %d: must be at least 10", c.GCPercent)
	}
	if c.MemoryLimitMiB < 0 {
		return fmt.Errorf("--memory-limit-mib %d: must not be negative", c.MemoryLimitMiB)
	}
	if postgres.IsURL(c.DB) {
		if err := postgres.CheckURL(c.DB); err != nil {
			return fmt.Errorf("--db %s: %v", postgres.Redact(c.DB), err)
		}
	}
	if c.DBPool < 1 {
		return fmt.Errorf("--db-pool %d: must be at least 1", c.DBPool)
	}
	if c.DBTimeout < 10*time.Millisecond {
		return fmt.Errorf("--db-timeout %v: must be at least 10ms", c.DBTimeout)
	}
	if c.ImportMaxMiB < 1 {
		return fmt.Errorf("--import-max-mib %d: must be at least 1", c.ImportMaxMiB)
	}
	if c.VisitRetention < 1 {
		return fmt.Errorf("--visit-retention-days %d: must be at least 1", c.VisitRetention)
	}
	if c.MaxConnections < 1 {
		return fmt.Errorf("--max-connections %d: must be at least 1", c.MaxConnections)
	}
	return nil
}

// loadAdminKeys reads keys from the file and the environment.
func (c *config) loadAdminKeys() (*server.AdminKeys, error) {
	var text strings.Builder
	if c.AdminKeysFile != "" {
		b, err := os.ReadFile(c.AdminKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-keys-file: %w", err)
		}
		text.Write(b)
		text.WriteByte('\n')
	}
	text.WriteString(c.adminKeys)
	keys, err := server.ParseAdminKeys(strings.NewReader(text.String()))
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "shortener: a URL shortener with metrics, traces and deploy gates.\n\n")
	fmt.Fprintf(w, "Usage: shortener [flags]\n       shortener migrate [--contract] [--force] [--db ...]\n"+
		"       shortener export [--db ...] [--format jsonl|csv] > FILE\n       shortener import [--db ...] [--format auto|jsonl|csv|shlink|yourls|plain] FILE\n\n"+
		"Every flag can also be set by the environment variable shown.\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s (env %s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
	})
	fmt.Fprintf(w, "\n  SHORTENER_ADMIN_KEYS (env only)\n      comma-separated admin API keys for the admin API (list, update, delete, export, import)\n")
	fmt.Fprintf(w, "\nTracing uses the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, ...).\n")
}

// applyGCSettings tunes the Go garbage collector unless the operator set
// GOGC or GOMEMLIMIT. The live heap of this service is small apart from
// the redirect cache (which holds no pointers, so collections do not scan
// it), so with the Go default (GOGC=100) it collects several times a
// second under load, and on a busy core each cycle delays requests: p99 at
// 5,000 redirects/s fell from 7-11 ms to 1.5-1.7 ms with GOGC=400 (see
// bench/README.md). The soft memory limit keeps the larger GC target from
// growing the process: with --memory-limit-mib 0 it is memoryHeadroomMiB
// above the redirect cache's size, and follows the cache as it fills
// (follows is then true: see followCacheMemory).
func (c *config) applyGCSettings(getenv func(string) string) (gcPercent int, limitMiB int, follows bool) {
	gcPercent, limitMiB = -1, -1
	if getenv("GOGC") == "" {
		debug.SetGCPercent(c.GCPercent)
		gcPercent = c.GCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		limitMiB = c.MemoryLimitMiB
		if limitMiB == 0 {
			limitMiB, follows = memoryHeadroomMiB, true
		}
		debug.SetMemoryLimit(int64(limitMiB) << 20)
	}
	return gcPercent, limitMiB, follows
}
