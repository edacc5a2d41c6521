package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHelpListsEveryFlagWithItsEnvVar(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, envFrom(nil), &out, io.Discard)
	if !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{
		"--addr", "SHORTENER_ADDR", "127.0.0.1:8080",
		"--admin-addr", "SHORTENER_ADMIN_ADDR", "127.0.0.1:8081",
		"--db", "SHORTENER_DB", "./data/shortener.db",
		"--base-url", "SHORTENER_BASE_URL",
		"--redirect-status", "--fault-error-rate", "SHORTENER_FAULT_ERROR_RATE",
		"--fault-latency", "SHORTENER_FAULT_LATENCY", "--fault-routes", "SHORTENER_FAULT_ROUTES",
		"--log-level", "SHORTENER_LOG_LEVEL",
		"--admin-keys-file", "SHORTENER_ADMIN_KEYS", "OTEL_EXPORTER_OTLP_ENDPOINT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestConfigFromFlagsAndEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(*config) error
	}{
		{name: "defaults", check: func(c *config) error {
			if c.Addr != "127.0.0.1:8080" || c.AdminAddr != "127.0.0.1:8081" || c.DB != "./data/shortener.db" || c.RedirectStatus != 302 || c.BaseURL != "http://127.0.0.1:8080" {
				return fmt.Errorf("defaults %+v", c)
			}
			return nil
		}},
		{name: "env fallback", env: map[string]string{"SHORTENER_REDIRECT_STATUS": "308", "SHORTENER_BASE_URL": "https://sho.rt/"}, check: func(c *config) error {
			if c.RedirectStatus != 308 || c.BaseURL != "https://sho.rt" {
				return fmt.Errorf("env not applied: %d %s", c.RedirectStatus, c.BaseURL)
			}
			return nil
		}},
		{name: "flag beats env", args: []string{"--redirect-status", "301"}, env: map[string]string{"SHORTENER_REDIRECT_STATUS": "308"}, check: func(c *config) error {
			if c.RedirectStatus != 301 {
				return fmt.Errorf("redirect status %d, want flag's 301", c.RedirectStatus)
			}
			return nil
		}},
		{name: "admin keys from env only", env: map[string]string{"SHORTENER_ADMIN_KEYS": "k1-0123456789abcdef,k2-0123456789abcdef"}, check: func(c *config) error {
			k, err := c.loadAdminKeys()
			if err != nil || k.Len() != 2 || !k.Match("k2-0123456789abcdef") {
				return fmt.Errorf("keys: %v %d", err, k.Len())
			}
			return nil
		}},
		{name: "bad redirect status", args: []string{"--redirect-status", "303"}, wantErr: "--redirect-status 303"},
		{name: "bad fault rate", args: []string{"--fault-error-rate", "1.5"}, wantErr: "--fault-error-rate"},
		{name: "fault routes", args: []string{"--fault-error-rate", "0.01", "--fault-routes", "/{code}, /api/v1/links/{code}"}, check: func(c *config) error {
			if !slices.Equal(c.faultRoutes, []string{"/{code}", "/api/v1/links/{code}"}) {
				return fmt.Errorf("fault routes %q", c.faultRoutes)
			}
			return nil
		}},
		{name: "fault routes from env", env: map[string]string{"SHORTENER_FAULT_LATENCY": "40ms", "SHORTENER_FAULT_ROUTES": "/"}, check: func(c *config) error {
			if !slices.Equal(c.faultRoutes, []string{"/"}) || c.FaultLatency != 40*time.Millisecond {
				return fmt.Errorf("fault routes %q, latency %v", c.faultRoutes, c.FaultLatency)
			}
			return nil
		}},
		{name: "unknown fault route", args: []string{"--fault-error-rate", "1", "--fault-routes", "/links/{id}"}, wantErr: `--fault-routes "/links/{id}": "/links/{id}" is not a public route pattern`},
		{name: "fault routes alone", args: []string{"--fault-routes", "/{code}"}, wantErr: "neither is set"},
		{name: "bad env value", env: map[string]string{"SHORTENER_FAULT_LATENCY": "soon"}, wantErr: "SHORTENER_FAULT_LATENCY"},
		{name: "bad base url", args: []string{"--base-url", "ftp://x"}, wantErr: "--base-url"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
		{name: "stray argument", args: []string{"serve"}, wantErr: `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, envFrom(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func postLink(t *testing.T, base, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/links", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

var noFollow = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// The real program, in-process: starts on a fresh file (schema created),
// serves, and on shutdown turns readiness off before closing, finishes the
// request in flight and returns nil (exit 0).
func TestRunServesThenDrainsOnShutdown(t *testing.T) {
	dir := t.TempDir()
	addr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testenv.SyncBuffer{}
	gcBefore, limitBefore := runtimeGC(t)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--admin-addr", admin, "--drain-delay", "600ms", "--fault-latency", "400ms"},
			envFrom(map[string]string{"SHORTENER_DB": filepath.Join(dir, "data", "s.db")}), logs, logs)
	}()
	testenv.WaitHTTP(t, "http://"+admin+"/readyz", 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "data", "s.db")); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	// In process, run leaves the Go runtime of the test binary alone.
	if gc, limit := runtimeGC(t); gc != gcBefore || limit != limitBefore {
		t.Fatalf("run changed the test binary's GC: GOGC %d -> %d, memory limit %d -> %d", gcBefore, gc, limitBefore, limit)
	}
	// Write health is probed in the background from the start: the admin
	// detail and the gauge say the store takes writes.
	writable := false
	for deadline := time.Now().Add(5 * time.Second); !writable && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var body struct{ Store struct{ Writable bool } }
		if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			writable = body.Store.Writable
		}
	}
	if !writable {
		t.Fatal("admin /readyz never said the store is writable")
	}
	if !strings.Contains(scrape(t, "http://"+admin+"/metrics"), "\nshortener_store_writable 1\n") {
		t.Fatal("admin /metrics lacks shortener_store_writable 1")
	}
	status, m := postLink(t, "http://"+addr, `{"url":"https://example.com/run"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, m)
	}
	code := m["code"].(string)

	// A request in flight (slowed by fault latency) when shutdown begins.
	inflight := make(chan int, 1)
	go func() {
		resp, err := noFollow.Get("http://" + addr + "/" + code)
		if err != nil {
			inflight <- -1
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	// Readiness must be false while the listener still accepts.
	deadline := time.Now().Add(500 * time.Millisecond)
	sawDraining := false
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				sawDraining = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDraining {
		t.Fatal("readyz never answered 503 before the listener closed")
	}
	if got := <-inflight; got != 302 {
		t.Fatalf("in-flight request got %d, want 302", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil (exit 0)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	if !strings.Contains(logs.String(), "FAULT INJECTION IS ON") {
		t.Errorf("fault injection not logged loudly at start")
	}
	if strings.Contains(logs.String(), "level\":\"ERROR") {
		t.Errorf("errors logged during a clean run:\n%s", logs.String())
	}
}

// SIGTERM on the real binary: exit status 0.
func TestBinaryExitsZeroOnSIGTERM(t *testing.T) {
	bin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	admin := testenv.FreeAddr(t)
	p := testenv.Start(t, nil, bin, "--addr", testenv.FreeAddr(t), "--admin-addr", admin,
		"--db", filepath.Join(t.TempDir(), "x.db"), "--drain-delay", "100ms")
	testenv.WaitHTTP(t, "http://"+admin+"/readyz", 15*time.Second)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited := p.Wait(10 * time.Second)
	if !exited {
		t.Fatal("process did not exit within 10 s of SIGTERM")
	}
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.Output())
	}
}

// The README's configuration table must list every flag --help shows.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_ = run(context.Background(), []string{"--help"}, envFrom(nil), &out, io.Discard)
	readme, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(out.String(), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--") {
			continue
		}
		name := strings.Fields(line)[0]
		n++
		if !strings.Contains(string(readme), "`"+name+"`") || !strings.Contains(string(readme), "`"+envName(strings.TrimPrefix(name, "--"))+"`") {
			t.Errorf("README configuration table lacks %s or its environment variable", name)
		}
	}
	if n < 20 {
		t.Fatalf("found only %d flags in --help", n)
	}
}

func TestGCSettingsRespectGoEnv(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	c := &config{GCPercent: 400, CacheSize: 50_000}
	gc, lim, follows := c.applyGCSettings(envFrom(nil))
	if gc != 400 || lim != memoryHeadroomMiB || !follows {
		t.Fatalf("defaults: gc %d, limit %d MiB, follows the cache %v; want 400, %d, true", gc, lim, follows, memoryHeadroomMiB)
	}
	if got := debug.SetGCPercent(400); got != 400 {
		t.Fatalf("GC percent in effect %d, want 400", got)
	}
	c.MemoryLimitMiB = 300
	if _, lim, follows = c.applyGCSettings(envFrom(nil)); lim != 300 || follows {
		t.Fatalf("--memory-limit-mib 300: limit %d MiB, follows the cache %v; want 300, false", lim, follows)
	}
	gc, lim, follows = c.applyGCSettings(envFrom(map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}))
	if gc != -1 || lim != -1 || follows {
		t.Fatalf("with GOGC and GOMEMLIMIT set: gc %d, limit %d, follows %v; want both left alone (-1)", gc, lim, follows)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runtimeGC reads the GC percent and the soft memory limit in effect,
// without changing them.
func runtimeGC(t *testing.T) (gcPercent, limitBytes uint64) {
	t.Helper()
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			t.Fatalf("runtime metric %s unavailable", s.Name)
		}
	}
	return samples[0].Value.Uint64(), samples[1].Value.Uint64()
}

// metricValue returns the value of the sample named name (no labels) in a
// Prometheus text exposition.
func metricValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

// The real binary tunes its GC from the flags (main's decision), unless the
// operator set GOGC or GOMEMLIMIT, which then win.
func TestBinaryTunesGC(t *testing.T) {
	bin := testenv.BuildBinary(t, "./app/cmd/shortener", "")
	tests := []struct {
		name               string
		env                []string
		wantGC, wantLimMiB float64
	}{
		// An empty database: the limit is the headroom above an empty cache.
		{"flags", []string{"GOGC=", "GOMEMLIMIT="}, 250, memoryHeadroomMiB},
		{"GOGC and GOMEMLIMIT win", []string{"GOGC=150", "GOMEMLIMIT=1GiB"}, 150, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := testenv.FreeAddr(t)
			testenv.Start(t, tt.env, bin, "--addr", testenv.FreeAddr(t), "--admin-addr", admin,
				"--db", filepath.Join(t.TempDir(), "gc.db"), "--drain-delay", "0s",
				"--gc-percent", "250", "--cache-size", "10240")
			testenv.WaitHTTP(t, "http://"+admin+"/readyz", 15*time.Second)
			exp := scrape(t, "http://"+admin+"/metrics")
			if got := metricValue(t, exp, "go_gc_gogc_percent"); got != tt.wantGC {
				t.Errorf("GOGC in effect %v, want %v", got, tt.wantGC)
			}
			if got := metricValue(t, exp, "go_gc_gomemlimit_bytes"); got != tt.wantLimMiB*(1<<20) {
				t.Errorf("memory limit in effect %v MiB, want %v", got/(1<<20), tt.wantLimMiB)
			}
		})
	}
}

type fakeCacheSize struct{ n atomic.Int64 }

func (f *fakeCacheSize) Bytes() int64 { return f.n.Load() }

// TestMemoryLimitFollowsCache: the soft memory limit stays the headroom
// above the redirect cache as the cache grows and shrinks.
func TestMemoryLimitFollowsCache(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	cache := &fakeCacheSize{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { followCacheMemory(ctx, cache, time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	for _, size := range []int64{0, 80 << 20, 200 << 20, 10 << 20} {
		cache.n.Store(size)
		want := memoryHeadroomMiB<<20 + size
		deadline := time.Now().Add(5 * time.Second)
		for debug.SetMemoryLimit(-1) != want {
			if time.Now().After(deadline) {
				t.Fatalf("cache of %d MiB: memory limit %d MiB, want %d MiB", size>>20, debug.SetMemoryLimit(-1)>>20, want>>20)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
