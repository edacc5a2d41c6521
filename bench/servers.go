// The servers under test: built, started (pinned), awaited, stopped, and
// their peak memory read.

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
)

// server is a started HTTP server under test.
type server struct {
	name  string
	p     *launch.Process
	url   string // public base URL
	admin string // admin base URL ("" for the baseline)
	links int
}

// build compiles the shortener and the baseline server; prebuilt binaries
// named in the config take the place of the shortener's build.
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

func (h *harness) startBaseline(ctx context.Context, links int) (*server, error) {
	addr, err := h.ports.Addr()
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

func (h *harness) startShortener(ctx context.Context, name, db string, links int, telemetry bool, extra ...string) (*server, error) {
	return h.startShortenerBin(ctx, h.bins["shortener"], name, db, links, telemetry, extra...)
}

// startShortenerBin starts bin on db (a SQLite file, or a PostgreSQL URL
// of the run's server, whose password goes in the environment) with the
// benchmark's flags plus extra.
func (h *harness) startShortenerBin(ctx context.Context, bin, name, db string, links int, telemetry bool, extra ...string) (*server, error) {
	addr, err := h.ports.Addr()
	if err != nil {
		return nil, err
	}
	admin, err := h.ports.Addr()
	if err != nil {
		return nil, err
	}
	args := []string{"--addr", addr, "--admin-addr", admin, "--db", db, "--rate-limit", "0",
		"--telemetry=" + strconv.FormatBool(telemetry), "--drain-delay", "0s", "--shutdown-timeout", "5s"}
	args = append(args, extra...)
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
	if postgres.IsURL(db) {
		env = append(env, h.pg.srv.Env()...)
	}
	p, err := startServer(name, h.serverCPUs, env, bin, args...)
	if err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	s := &server{name: name, p: p, url: "http://" + addr, admin: "http://" + admin, links: links}
	return s, waitReady(ctx, p, s.admin+"/readyz", 30*time.Second)
}

// startServer starts a server under test, pinned to cpus with taskset when
// cpus is set (the pid is still the server's own, which /proc/<pid>/status
// needs). Its stdout goes to /dev/null (the shortener writes one access-log
// line per request there, as it would to a log collector) and the tail of
// its stderr is kept for error messages.
func startServer(name, cpus string, env []string, bin string, args ...string) (*launch.Process, error) {
	return launch.Start(launch.Spec{Name: name, Path: bin, Args: args, Env: env, CPUs: cpus, DiscardStdout: true, KeepBytes: 8 << 10})
}

// stopServer asks for a graceful exit and kills after a grace period.
func stopServer(p *launch.Process) error {
	return p.Stop(context.Background(), 10*time.Second)
}

// peakRSS returns VmHWM, the peak resident set size, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak RSS of %d: parse %q: %w", pid, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("peak RSS of %d: no VmHWM line", pid)
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat
// (100 on every Linux architecture's user ABI).
const clockTicks = 100

// processCPU returns the CPU time (user and system, all threads) process
// pid has used so far, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("CPU time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("CPU time of %d: unexpected /proc stat %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("CPU time of %d: unexpected /proc stat %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("CPU time of %d: unexpected /proc stat %q", pid, b)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(ctx context.Context, p *launch.Process, url string, timeout time.Duration) error {
	if err := httpwait.UntilOK(ctx, url, timeout, p.Dead); err != nil {
		return fmt.Errorf("%s: %w; stderr: %s", p.Name(), err, p.Tail(20))
	}
	return nil
}
