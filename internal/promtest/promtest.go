// Package promtest starts a real Prometheus server (the Debian package) for
// integration tests, on a free loopback port, and stops it when the test ends.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

// Server is a running Prometheus.
type Server struct {
	URL     string // base URL, e.g. http://127.0.0.1:9091
	Dir     string // folder holding the config and the TSDB
	Process *testenv.Process
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
	testenv.WaitHTTP(tb, s.URL+"/-/ready", 30*time.Second)
	return s
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
	deadline := time.Now().Add(timeout)
	for {
		up, err := s.upTargets()
		if err == nil && up >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("prometheus: %d of %d targets up after %s (err %v)", up, n, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *Server) upTargets() (int, error) {
	resp, err := http.Get(s.URL + "/api/v1/targets?state=active")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Health string `json:"health"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	up := 0
	for _, t := range body.Data.ActiveTargets {
		if t.Health == "up" {
			up++
		}
	}
	return up, nil
}

// Query runs an instant query and returns the raw JSON "data" object, or the
// error Prometheus reported.
func (s *Server) Query(ctx context.Context, q string) (json.RawMessage, error) {
	u := s.URL + "/api/v1/query?query=" + url.QueryEscape(q)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode query answer: %w", err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	return body.Data, nil
}
