// Package promtest starts a real Prometheus server (the Debian package) for
// integration tests, on a free loopback port, and stops it when the test ends.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/obsshort/shortener/internal/testenv"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Server is a running Prometheus.
type Server struct {
	URL     string // base URL, e.g. http://127.0.0.1:9091
	Dir     string // folder holding the config and the TSDB
	Process *testenv.Process
	// Client queries it (internal/promclient, 10 s per call).
	Client *promclient.Client
}

// Config describes what the server scrapes and evaluates.
type Config struct {
	// ScrapeConfigs is the YAML of the scrape_configs list (without the key),
	// e.g. "- job_name: shortener\n  static_configs: ...".
	ScrapeConfigs string
	// RuleFiles are copied and loaded as rule_files.
	RuleFiles []string
	// Interval is both scrape and evaluation interval (default 1s).
	Interval time.Duration
	// ExtraArgs are appended to the command line (e.g. feature flags).
	ExtraArgs []string
}

// Start launches Prometheus and waits until it is ready.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	bin := testenv.RequireTool(tb, "prometheus")
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	dir := tb.TempDir()
	var rules string
	for i, f := range cfg.RuleFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatalf("read rule file: %v", err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("rules-%d-%s", i, filepath.Base(f)))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		rules += fmt.Sprintf("  - %q\n", dst)
	}
	conf := fmt.Sprintf("global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", cfg.Interval, cfg.Interval)
	if rules != "" {
		conf += "rule_files:\n" + rules
	}
	conf += "scrape_configs:\n" + indent(cfg.ScrapeConfigs)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	addr := testenv.FreeAddr(tb)
	args := []string{
		"--config.file=" + confPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	}
	args = append(args, cfg.ExtraArgs...)
	p := testenv.Start(tb, nil, bin, args...)
	s := &Server{URL: "http://" + addr, Dir: dir, Process: p}
	c, err := promclient.New(s.URL, promclient.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	s.Client = c
	s.waitReady(tb, 30*time.Second)
	return s
}

func (s *Server) waitReady(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := s.Client.Ready(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("prometheus not ready after %s: %v\n%s", timeout, err, s.Process.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func indent(s string) string {
	out := ""
	for _, line := range splitLines(s) {
		if line == "" {
			out += "\n"
			continue
		}
		out += "  " + line + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// WaitTargetsUp waits until n targets report health "up".
func (s *Server) WaitTargetsUp(tb testing.TB, n int, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		up, err := s.upTargets(ctx)
		if err == nil && up >= n {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("prometheus: %d of %d targets up after %s (err %v)", up, n, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) upTargets(ctx context.Context) (int, error) {
	ts, err := s.Client.Targets(ctx)
	up := 0
	for _, t := range ts {
		if t.Health == v1.HealthGood {
			up++
		}
	}
	return up, err
}

// Query runs an instant query at the server's current time and returns the
// "data" object of the answer ({"resultType": ..., "result": ...}), or the
// error Prometheus reported, naming the query.
func (s *Server) Query(ctx context.Context, q string) (json.RawMessage, error) {
	v, err := s.Client.Query(ctx, q, time.Time{})
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		ResultType string      `json:"resultType"`
		Result     model.Value `json:"result"`
	}{v.Type().String(), v})
}
