package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"github.com/obsshort/shortener/internal/launch"
)

// setup decides the CPU split and records how the run is done.
func (h *harness) setup(rep *Report) error {
	cfg := h.cfg
	n := runtime.NumCPU()
	if cfg.Pin && n >= 2 {
		taskset, err := launch.LookTool("taskset")
		if err != nil {
			return err
		}
		h.serverCPUs = strconv.Itoa(n - 1)
		h.loadCPUs = "0"
		if n > 2 {
			h.loadCPUs = "0-" + strconv.Itoa(n-2)
		}
		// Threads created later inherit the affinity, so the vegeta workers,
		// create clients and OTLP sink stay off the server's CPU.
		if out, err := exec.Command(taskset, "-a", "-p", "-c", h.loadCPUs, strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
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
		fmt.Sprintf("PostgreSQL: the Debian package's server started by the harness as shipped (fsync and synchronous_commit on, shared_buffers 128MB), pinned to the servers' CPU; the shortener uses its defaults (--db-pool 10). Creations are compared in %d rounds, each the shortener's clients for %[3]s then pgbench -M prepared -c %[2]d -j 1 -T %[3]s (pinned with the load generators) running the store's own INSERT, back to back on the same server (the ratio is the median of the rounds'); then the durable run above (kill -9, every acknowledged link checked) once on PostgreSQL; warm redirects and the cache-miss runs (--cache-size 1, so nearly every redirect reads the store) are compared with SQLite in the same rounds", cfg.Rounds, cfg.CreateClients, cfg.Duration),
	)
	return nil
}
