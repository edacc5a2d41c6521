//go:build soak

package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
)

// soakSample is one reading of the service's resource use.
type soakSample struct {
	at                      time.Duration
	goroutines, heap, fds   float64
	requests, failed, codes int64
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// TestSoak runs mixed load (creates, redirects, metadata, deletes, misses) at
// a steady pace against the real binary for SOAK_DURATION (default 10m),
// samples goroutines, heap in use and open files from /metrics every
// SOAK_INTERVAL (default 10s), prints the table, and fails if any of them
// keeps growing once warmed up, or if any request fails. Run with make soak.
func TestSoak(t *testing.T) {
	duration := envDuration(t, "SOAK_DURATION", 10*time.Minute)
	every := envDuration(t, "SOAK_INTERVAL", 10*time.Second)
	// A small cache fills within the warm-up, so its growth is not mistaken
	// for a leak.
	in := start(t, dbPath(t), nil, "--cache-size", "2000")
	client := newClient(10 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		requests, failed atomic.Int64
		mu               sync.Mutex
		codes            []string // the most recent codes, bounded
		firstErrs        []string
	)
	fail := func(format string, args ...any) {
		failed.Add(1)
		mu.Lock()
		if len(firstErrs) < 10 {
			firstErrs = append(firstErrs, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(codes) == 0 {
			return "nosuchcode"
		}
		return codes[rand.IntN(len(codes))]
	}
	// 400 requests per second in total, at most 8 in flight: a request due
	// while 8 are in flight is skipped rather than queued.
	loadDone := load(t, ctx, loadgen.Pace{RPS: 400, MaxInFlight: 8}, func(rctx context.Context, r loadgen.Request) {
		i := r.Seq
		requests.Add(1)
		switch n := rand.IntN(100); {
		case n < 15:
			st, body, err := createLink(rctx, client, in.URL(), fmt.Sprintf("https://example.com/soak/%d", i), "")
			if err != nil || st != http.StatusCreated {
				if ctx.Err() == nil {
					fail("create: %d %q %v", st, body.Error, err)
				}
				return
			}
			mu.Lock()
			if len(codes) < 5000 {
				codes = append(codes, body.Code)
			} else {
				codes[rand.IntN(len(codes))] = body.Code
			}
			mu.Unlock()
		case n < 85:
			st, _, _, err := get(rctx, client, in.URL()+"/"+pick())
			if (err != nil || (st != http.StatusFound && st != http.StatusGone && st != http.StatusNotFound)) && ctx.Err() == nil {
				fail("redirect: %d %v", st, err)
			}
		case n < 90:
			st, _, _, err := get(rctx, client, in.URL()+"/api/v1/links/"+pick())
			if (err != nil || (st != http.StatusOK && st != http.StatusNotFound)) && ctx.Err() == nil {
				fail("metadata: %d %v", st, err)
			}
		case n < 95:
			req, _ := http.NewRequestWithContext(rctx, http.MethodDelete, in.URL()+"/api/v1/links/"+pick(), nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			resp, err := client.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					fail("delete: %v", err)
				}
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
				fail("delete: %d", resp.StatusCode)
			}
		default:
			st, _, _, err := get(rctx, client, in.URL()+fmt.Sprintf("/missing%d", i))
			if (err != nil || st != http.StatusNotFound) && ctx.Err() == nil {
				fail("miss: %d %v", st, err)
			}
		}
	})

	begin := time.Now()
	var samples []soakSample
	take := func() {
		mu.Lock()
		n := int64(len(codes))
		mu.Unlock()
		v := scrape(t, in, "go_goroutines", "go_memstats_heap_inuse_bytes", "process_open_fds")
		samples = append(samples, soakSample{
			at:         time.Since(begin).Round(time.Second),
			goroutines: v[0], heap: v[1], fds: v[2],
			requests: requests.Load(), failed: failed.Load(), codes: n,
		})
	}
	take()
	for time.Since(begin) < duration {
		time.Sleep(every)
		take()
		if in.exited() {
			t.Fatalf("the service exited during the soak: %v", in.p.Err())
		}
	}
	cancel()
	stats := loadDone()
	t.Logf("%d requests sent, %d skipped because 8 were in flight", stats.Started, stats.Saturated)

	var table strings.Builder
	fmt.Fprintf(&table, "%8s %10s %10s %8s %10s %7s\n", "time", "goroutines", "heap MiB", "open fds", "requests", "failed")
	for _, s := range samples {
		fmt.Fprintf(&table, "%8s %10.0f %10.1f %8.0f %10d %7d\n", s.at, s.goroutines, s.heap/(1<<20), s.fds, s.requests, s.failed)
	}
	fmt.Print(table.String()) // shown by make soak even without -v
	t.Logf("soak of %s, a sample every %s:\n%s", duration, every, table.String())

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed; first: %v", n, requests.Load(), firstErrs)
	}
	if len(samples) < 6 {
		t.Fatalf("only %d samples: run longer than 5 intervals to judge a trend", len(samples))
	}
	// Drop the warm-up (first fifth), then compare the two halves of the rest.
	rest := samples[max(2, len(samples)/5):]
	first, second := rest[:len(rest)/2], rest[len(rest)/2:]
	col := func(ss []soakSample, f func(soakSample) float64) []float64 {
		out := make([]float64, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		return out
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	checks := []struct {
		name  string
		get   func(soakSample) float64
		limit func(first []float64) float64
		stat  func([]float64) float64
	}{
		{"goroutines (max)", func(s soakSample) float64 { return s.goroutines }, func(f []float64) float64 { return slices.Max(f) + 20 }, slices.Max[[]float64]},
		{"open fds (max)", func(s soakSample) float64 { return s.fds }, func(f []float64) float64 { return slices.Max(f) + 10 }, slices.Max[[]float64]},
		{"heap in use (median)", func(s soakSample) float64 { return s.heap }, func(f []float64) float64 { return median(f)*1.3 + 2<<20 }, median},
	}
	for _, c := range checks {
		a, b := col(first, c.get), col(second, c.get)
		if got, limit := c.stat(b), c.limit(a); got > limit {
			t.Errorf("%s grows: %.0f in the second half against %.0f in the first (limit %.0f)", c.name, got, c.stat(a), limit)
		} else {
			t.Logf("%s flat: first half %.0f, second half %.0f", c.name, c.stat(a), got)
		}
	}
}
