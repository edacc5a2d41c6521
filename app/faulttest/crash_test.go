package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
)

// TestKill9KeepsAcknowledgedLinks kills the service with SIGKILL while
// clients create links at full speed; after a restart on the same file,
// every link that was answered 201 must redirect to its URL. An
// acknowledgement that is not durable would show up here as a 404.
func TestKill9KeepsAcknowledgedLinks(t *testing.T) {
	db := dbPath(t)
	in := start(t, db, nil)
	client := newClient(5 * time.Second)

	type created struct{ code, url string }
	var (
		mu    sync.Mutex
		links []created
		other statusCounts
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	wait := load(t, ctx, loadgen.Pace{Workers: 6}, func(rctx context.Context, r loadgen.Request) {
		target := fmt.Sprintf("https://example.com/kill9/%d", r.Seq)
		status, body, err := createLink(rctx, client, in.URL(), target, "")
		switch {
		case err != nil:
			if ctx.Err() == nil {
				other.fail("create before the kill: %v", err)
			}
		case status == http.StatusCreated:
			mu.Lock()
			links = append(links, created{body.Code, body.URL})
			mu.Unlock()
		default:
			other.add(fmt.Sprint(status))
		}
	})
	time.Sleep(3 * time.Second)
	stopLoad() // first, so errors caused by the kill are not counted
	in.kill()
	wait()
	if n, errs := other.failures(); n > 0 {
		t.Fatalf("%d creates failed before the kill: %v", n, errs)
	}
	if len(links) < 50 {
		t.Fatalf("only %d links created in 3 s; the load did not run (%s)", len(links), other.String())
	}

	again := start(t, db, nil)
	var missing, wrong atomic.Int64
	var check sync.WaitGroup
	jobs := make(chan created)
	for range 4 {
		check.Go(func() {
			for l := range jobs {
				status, loc, _, err := get(context.Background(), client, again.URL()+"/"+l.code)
				switch {
				case err != nil || status != http.StatusFound:
					if missing.Add(1) <= 5 {
						t.Errorf("link %s (201 before the kill): %d %v after restart", l.code, status, err)
					}
				case loc != l.url:
					wrong.Add(1)
					t.Errorf("link %s redirects to %q, want %q", l.code, loc, l.url)
				}
			}
		})
	}
	for _, l := range links {
		jobs <- l
	}
	close(jobs)
	check.Wait()
	t.Logf("%d links acknowledged with 201 before kill -9; after restart %d missing, %d wrong", len(links), missing.Load(), wrong.Load())
	if missing.Load() > 0 || wrong.Load() > 0 {
		t.Fatalf("%d of %d acknowledged links lost", missing.Load()+wrong.Load(), len(links))
	}
}

// TestTwoProcessesShareOneDatabase runs a stable and a canary process on the
// same SQLite file, as a release does. Concurrent creates on both all
// succeed; each process resolves the other's links; a delete through one
// stops redirects in the other within seconds although the other had the
// link cached; a few seconds of creates, redirects and deletes mixed across
// both get no 5xx; and no process logs or answers "database is locked".
func TestTwoProcessesShareOneDatabase(t *testing.T) {
	db := dbPath(t)
	stable := start(t, db, nil)
	canary := start(t, db, nil)
	procs := []*instance{stable, canary}
	client := newClient(20 * time.Second)
	ctx := context.Background()

	// Concurrent creates, 160 on each process: every one must succeed.
	var (
		mu       sync.Mutex
		failures []string
		made     [2][]loadgen.Link
	)
	const creates = 320
	drive(t, ctx, loadgen.Pace{Workers: 8, Limit: creates}, func(rctx context.Context, r loadgen.Request) {
		i := r.Seq % 2
		target := fmt.Sprintf("https://example.com/p%d/%d", i, r.Seq)
		status, body, err := createLink(rctx, client, procs[i].URL(), target, "")
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failures = append(failures, err.Error())
		case status != http.StatusCreated:
			failures = append(failures, fmt.Sprintf("%d %q", status, body.Error))
		default:
			made[i] = append(made[i], loadgen.Link{Code: body.Code, URL: body.URL})
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d of %d concurrent creates failed, first: %s", len(failures), creates, failures[0])
	}

	// Each process resolves the other's links.
	for i, in := range procs {
		for _, l := range made[1-i][:20] {
			status, loc, _, err := get(ctx, client, in.URL()+"/"+l.Code)
			if err != nil || status != http.StatusFound || loc != l.URL {
				t.Fatalf("process %d cannot resolve %s made by the other: %d %q %v", i, l.Code, status, loc, err)
			}
		}
	}

	// Warm the canary's cache, delete through the stable, watch the canary.
	victim := made[0][0].Code
	if status, _, _, err := get(ctx, client, canary.URL()+"/"+victim); err != nil || status != http.StatusFound {
		t.Fatalf("warm the canary's cache with %s: %d %v", victim, status, err)
	}
	if status := deleteLink(t, ctx, client, stable.URL(), victim); status != http.StatusNoContent {
		t.Fatalf("delete %s: %d, want 204", victim, status)
	}
	deleted := time.Now()
	for {
		status, _, _, err := get(ctx, client, canary.URL()+"/"+victim)
		if err == nil && status == http.StatusGone {
			t.Logf("delete seen by the other process after %s", time.Since(deleted).Round(time.Millisecond))
			break
		}
		if time.Since(deleted) > 5*time.Second {
			t.Fatalf("the other process still answers %d %v for a deleted link after 5 s", status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Mixed load across both for a few seconds.
	var (
		codes   []string
		tally   statusCounts
		created atomic.Int64
	)
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(codes) == 0 {
			return ""
		}
		return codes[rand.IntN(len(codes))]
	}
	mixed, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	drive(t, mixed, loadgen.Pace{Workers: 8}, func(rctx context.Context, r loadgen.Request) {
		in := procs[rand.IntN(2)]
		who := map[*instance]string{stable: "stable", canary: "canary"}[in]
		switch n := rand.IntN(100); {
		case n < 50 || pick() == "":
			status, body, err := createLink(rctx, client, in.URL(), fmt.Sprintf("https://example.com/shared/%d", r.Seq), "")
			if err != nil || status >= 500 || strings.Contains(body.Error, "locked") {
				tally.fail("create on %s: %d %q %v", who, status, body.Error, err)
				return
			}
			tally.add(fmt.Sprintf("create %d", status))
			if status == http.StatusCreated {
				created.Add(1)
				mu.Lock()
				codes = append(codes, body.Code)
				mu.Unlock()
			}
		case n < 85:
			status, _, body, err := get(rctx, client, in.URL()+"/"+pick())
			if err != nil || (status != http.StatusFound && status != http.StatusGone) {
				tally.fail("redirect on %s: %d %v %.200s", who, status, err, body)
				return
			}
			tally.add(fmt.Sprintf("redirect %d", status))
		default:
			req, _ := http.NewRequestWithContext(rctx, http.MethodDelete, in.URL()+"/api/v1/links/"+pick(), nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			resp, err := client.Do(req)
			if err != nil {
				tally.fail("delete on %s: %v", who, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
				tally.fail("delete on %s: %d", who, resp.StatusCode)
				return
			}
			tally.add(fmt.Sprintf("delete %d", resp.StatusCode))
		}
	})
	t.Logf("answers: %s", tally.String())
	if n, errs := tally.failures(); n > 0 {
		t.Fatalf("%d requests failed:\n%s", n, strings.Join(errs, "\n"))
	}
	if created.Load() < 50 {
		t.Fatalf("only %d links created; the load did not run", created.Load())
	}
	for name, in := range map[string]*instance{"stable": stable, "canary": canary} {
		out := strings.ToLower(in.output())
		if strings.Contains(out, "database is locked") || strings.Contains(out, "sqlite_busy") {
			t.Errorf("%s logged a lock error:\n%s", name, in.p.Tail(40))
		}
	}
}
