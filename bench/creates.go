package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
)

// createResult is the durable creation run.
type createResult struct {
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Created  int     `json:"created_201"`
	PerSec   float64 `json:"created_per_second"`
	Failures int64   `json:"failures_before_kill"`
	Verified int     `json:"verified"`
	Resolved int     `json:"resolved"`
	// Missing is up to ten acknowledged links that did not redirect to
	// their URL after the restart, with what they answered.
	Missing []string `json:"missing,omitempty"`
}

// createLoad posts links from clients concurrent keep-alive connections
// until the window ends and returns every link answered 201 inside it.
// Requests still in flight at the end are abandoned: the caller kills the
// server under load, and only acknowledged links count.
func createLoad(ctx context.Context, baseURL string, clients int, window time.Duration) ([]loadgen.Link, int64, time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	var (
		mu       sync.Mutex
		acked    []loadgen.Link
		failures atomic.Int64
	)
	start := time.Now()
	// Each request runs under the window's context, not the one Drive
	// hands out, so that the window's end abandons it.
	_, err := loadgen.Drive(ctx, loadgen.Pace{Workers: clients}, func(_ context.Context, r loadgen.Request) {
		l, status, err := loadgen.Create(ctx, client, baseURL, fmt.Sprintf("https://example.org/created/%d", r.Seq))
		switch {
		case status == 0 && err != nil: // no answer
			if ctx.Err() == nil {
				failures.Add(1)
			}
		case status != http.StatusCreated || err != nil:
			failures.Add(1)
		default:
			mu.Lock()
			acked = append(acked, l)
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("durable creates: %w", err)
	}
	return acked, failures.Load(), time.Since(start), nil
}

// verifyLinks requests every acknowledged code (without following the
// redirect) and returns how many redirect to their own URL, and up to ten
// that did not, with what they answered.
func verifyLinks(ctx context.Context, baseURL string, links []loadgen.Link) (int, []string, error) {
	client := loadgen.NoRedirects(10*time.Second, 16)
	defer client.CloseIdleConnections()
	broken := loadgen.Verify(ctx, client, baseURL, links)
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("verify acknowledged links: %w", err)
	}
	return len(links) - len(broken), broken[:min(len(broken), 10)], nil
}

// measureCreates runs the durable creation test on a shortener on db (a
// SQLite file or a PostgreSQL URL).
func (h *harness) measureCreates(ctx context.Context, name, db string) (createResult, error) {
	s, err := h.startShortener(ctx, name, db, 0, true)
	if err != nil {
		return createResult{}, err
	}
	res := createResult{Clients: h.cfg.CreateClients}
	h.logf("durable creates: %d clients for %s, then kill -9", h.cfg.CreateClients, h.cfg.Duration)
	killed := make(chan struct{})
	stop := time.AfterFunc(h.cfg.Duration, func() { s.p.Kill(); close(killed) })
	defer stop.Stop()
	// The clients' window is a little longer than the server's life, so the
	// kill lands while requests are in flight.
	acked, failures, took, err := createLoad(ctx, s.url, h.cfg.CreateClients, h.cfg.Duration+500*time.Millisecond)
	<-killed
	if err != nil {
		return res, err
	}
	res.Created = len(acked)
	res.Seconds = min(took, h.cfg.Duration).Seconds()
	res.PerSec = float64(res.Created) / res.Seconds
	res.Failures = failures
	h.logf("  %d links acknowledged (%.0f/s); restarting on the same database", res.Created, res.PerSec)

	again, err := h.startShortener(ctx, name+"-restarted", db, 0, true)
	if err != nil {
		return res, fmt.Errorf("restart after kill -9: %w", err)
	}
	res.Verified = len(acked)
	if res.Resolved, res.Missing, err = verifyLinks(ctx, again.url, acked); err != nil {
		return res, err
	}
	if err := stopServer(again.p); err != nil {
		h.logf("%v", err)
	}
	h.logf("  durable: %d/%d resolved", res.Resolved, res.Verified)
	if res.Created == 0 {
		return res, errors.New("durable creates: no link was acknowledged")
	}
	return res, nil
}
