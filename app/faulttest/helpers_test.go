package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
	"github.com/obsshort/shortener/internal/loadgen"
	"github.com/obsshort/shortener/internal/testenv"
)

const adminKey = "fault-test-admin-key-0123456789"

// instance is one shortener process.
type instance struct {
	t     *testing.T
	Addr  string // public listener
	Admin string // admin listener
	p     *launch.Process
}

// start runs the shortener binary on db with load-test defaults (no rate
// limit, warn logs, no trace export) plus args, and waits until it is ready.
// A port taken between choosing and binding it (by another test's client
// connection, say) is retried with fresh ports.
func start(t *testing.T, db string, env []string, args ...string) *instance {
	t.Helper()
	for attempt := 1; ; attempt++ {
		in := startOnce(t, db, env, args...)
		err := in.waitReady(20 * time.Second)
		if err == nil {
			return in
		}
		if attempt < 3 && in.exited() && strings.Contains(in.output(), "address already in use") {
			continue
		}
		t.Fatalf("%v\n%s", err, in.p.Tail(40))
	}
}

func startOnce(t *testing.T, db string, env []string, args ...string) *instance {
	t.Helper()
	return startBinOnce(t, testenv.BuildBinary(t, "./app/cmd/shortener", ""), db, env, args...)
}

// startBin is start with another shortener binary (a previous release).
func startBin(t *testing.T, bin, db string, env []string, args ...string) *instance {
	t.Helper()
	in := startBinOnce(t, bin, db, env, args...)
	if err := in.waitReady(20 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, in.p.Tail(40))
	}
	return in
}

func startBinOnce(t *testing.T, bin, db string, env []string, args ...string) *instance {
	t.Helper()
	in := &instance{t: t, Addr: testenv.FreeAddr(t), Admin: testenv.FreeAddr(t)}
	all := append([]string{
		"--addr", in.Addr, "--admin-addr", in.Admin, "--db", db,
		"--rate-limit", "0", "--log-level", "warn",
	}, args...)
	p, err := launch.Start(launch.Spec{
		Name: "shortener " + in.Addr, Path: bin, Args: all,
		Env: append([]string{"SHORTENER_ADMIN_KEYS=" + adminKey, "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="}, env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	in.p = p
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of shortener %s:\n%s", in.Addr, p.Tail(40))
		}
	})
	return in
}

func (in *instance) URL() string      { return "http://" + in.Addr }
func (in *instance) AdminURL() string { return "http://" + in.Admin }

func (in *instance) exited() bool { return in.p.Exited() }

// output is what the process wrote to stdout and stderr so far.
func (in *instance) output() string { return in.p.Output() }

// waitReady polls the admin /readyz until 200; it gives up early if the
// process exits.
func (in *instance) waitReady(timeout time.Duration) error {
	return httpwait.UntilOK(context.Background(), in.AdminURL()+"/readyz", timeout, in.p.Dead)
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() { in.p.Kill() }

// terminate sends SIGTERM and returns the exit status.
func (in *instance) terminate(timeout time.Duration) error {
	in.t.Helper()
	if err := in.p.Signal(syscall.SIGTERM); err != nil {
		in.t.Fatal(err)
	}
	if _, exited := in.p.Wait(timeout); !exited {
		in.t.Fatalf("shortener still running %s after SIGTERM", timeout)
	}
	return in.p.Err()
}

// drive runs load paced as pace says until ctx ends (or pace.Limit
// requests started) and returns once every request has finished.
func drive(t *testing.T, ctx context.Context, pace loadgen.Pace, do func(context.Context, loadgen.Request)) loadgen.Stats {
	t.Helper()
	stats, err := loadgen.Drive(ctx, pace, do)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// load runs drive in the background; wait returns once the load has
// stopped (ctx ended) and every request has finished.
func load(t *testing.T, ctx context.Context, pace loadgen.Pace, do func(context.Context, loadgen.Request)) (wait func() loadgen.Stats) {
	t.Helper()
	done := make(chan loadgen.Stats, 1)
	go func() {
		stats, err := loadgen.Drive(ctx, pace, do)
		if err != nil {
			t.Error(err)
		}
		done <- stats
	}()
	return sync.OnceValue(func() loadgen.Stats { return <-done })
}

// deleteLink deletes a link with the admin key and returns the status.
func deleteLink(t *testing.T, ctx context.Context, c *http.Client, base, code string) int {
	t.Helper()
	return adminDo(t, ctx, c, http.MethodDelete, base+"/api/v1/links/"+code, "")
}

// adminDo sends body (JSON, may be empty) with the admin key and returns
// the status.
func adminDo(t *testing.T, ctx context.Context, c *http.Client, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newClient returns a client that does not follow redirects and keeps enough
// idle connections for the load goroutines.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type linkBody struct {
	Code  string `json:"code"`
	URL   string `json:"url"`
	Error string `json:"error"`
}

// createLink posts a link and returns the status and decoded body.
func createLink(ctx context.Context, c *http.Client, base, target, alias string) (int, linkBody, error) {
	body, _ := json.Marshal(map[string]string{"url": target, "alias": alias})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/links", bytes.NewReader(body))
	if err != nil {
		return 0, linkBody{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, linkBody{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, linkBody{}, fmt.Errorf("read answer: %w", err)
	}
	var lb linkBody
	if err := json.Unmarshal(raw, &lb); err != nil {
		lb.Error = string(raw)
	}
	return resp.StatusCode, lb, nil
}

// get fetches path and returns status, Location and body.
func get(ctx context.Context, c *http.Client, url string) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b), err
}

// dbPath returns a database path in a fresh temporary folder.
func dbPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "shortener.db")
}

// statusCounts is a concurrency-safe tally of answers.
type statusCounts struct {
	mu     sync.Mutex
	counts map[string]int
	errs   []string
}

func (s *statusCounts) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts[key]++
}

func (s *statusCounts) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 20 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.counts["FAILED"]++
}

func (s *statusCounts) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.counts)
}

func (s *statusCounts) failures() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts["FAILED"], append([]string(nil), s.errs...)
}
