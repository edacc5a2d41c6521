package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/bench/linkset"
	"github.com/obsshort/shortener/internal/launch"
)

// wrkScript spreads requests uniformly over links 0..n-1 (n is the script's
// first argument), so the shortener's cache and database see many codes
// rather than one hot key.
var wrkScript = `-- written by the benchmark harness (bench/wrk.go)
local n = 1
init = function(args)
  n = tonumber(args[1])
  math.randomseed(os.time())
end
request = function()
  local i = math.random(0, n - 1)
  return wrk.format("GET", ` + linkset.LuaCode + `)
end
`

// wrkResult is what one closed-loop wrk run measured.
type wrkResult struct {
	RPS      float64 `json:"rps"`
	Requests int64   `json:"requests"`
	Non3xx   int64   `json:"non_2xx_3xx"`
	SockErrs int64   `json:"socket_errors"`
	// ServerCPU is the CPU time (user and system, all threads) the server
	// process used during the run.
	ServerCPU float64 `json:"server_cpu_seconds"`
}

// cpuPerRequest is the server's CPU time per request, in seconds (0 when
// not measured). Unlike throughput it hardly depends on how much of its
// core the server got: on a machine busy with other work, throughput
// measures the machine, CPU per request the server.
func (r wrkResult) cpuPerRequest() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / float64(r.Requests)
}

type wrkRunner struct {
	bin     string
	script  string
	cpus    string // taskset list for wrk, empty for no pinning
	threads int
	conns   int
}

func newWrkRunner(dir, cpus string, threads, conns int) (*wrkRunner, error) {
	bin, err := launch.LookTool("wrk")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "random-codes.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, fmt.Errorf("write wrk script: %w", err)
	}
	return &wrkRunner{bin: bin, script: script, cpus: cpus, threads: threads, conns: conns}, nil
}

// run drives baseURL for d with links codes and parses wrk's summary.
func (w *wrkRunner) run(ctx context.Context, baseURL string, links int, d time.Duration) (wrkResult, error) {
	args := []string{"-t", strconv.Itoa(w.threads), "-c", strconv.Itoa(w.conns),
		"-d", fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds())), "--timeout", "5s",
		"-s", w.script, baseURL, "--", strconv.Itoa(links)}
	p, err := launch.Start(launch.Spec{Name: "wrk", Path: w.bin, Args: args, CPUs: w.cpus})
	if err != nil {
		return wrkResult{}, err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = p.Stop(context.Background(), 2*time.Second)
		return wrkResult{}, fmt.Errorf("wrk %s: %w", baseURL, ctx.Err())
	}
	if err := p.Err(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", baseURL, err, p.Output())
	}
	return parseWrk(p.Output())
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal    = regexp.MustCompile(`(\d+) requests in`)
	wrkNon3xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the summary wrk prints at the end of a run.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk output has no Requests/sec line: %s", strings.TrimSpace(out))
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkNon3xx.FindStringSubmatch(out); m != nil {
		r.Non3xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkSockErrs.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SockErrs += n
		}
	}
	return r, nil
}

// failed reports a run whose throughput counts errors (more than 0.1% of
// requests not answered with a redirect).
func (r wrkResult) failed() error {
	bad := r.Non3xx + r.SockErrs
	if r.Requests == 0 || bad*1000 > r.Requests {
		return fmt.Errorf("%d of %d requests failed (non-2xx/3xx %d, socket errors %d)", bad, r.Requests, r.Non3xx, r.SockErrs)
	}
	return nil
}
