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
		stop  atomic.Bool
		wg    sync.WaitGroup
		other statusCounts
	)
	for g := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				target := fmt.Sprintf("https://example.com/kill9/%d/%d", g, i)
				status, body, err := createLink(context.Background(), client, in.URL(), target, "")
				switch {
				case err != nil:
					if !stop.Load() {
						other.fail("create before the kill: %v", err)
					}
				case status == http.StatusCreated:
					mu.Lock()
					links = append(links, created{body.Code, body.URL})
					mu.Unlock()
				default:
					other.add(fmt.Sprint(status))
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	stop.Store(true) // set first, so errors caused by the kill are not counted
	in.kill()
	wg.Wait()
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
// same SQLite file and mixes creates, redirects and deletes across both for a
// few seconds: no answer may be a 5xx and no process may log or answer
// "database is locked".
func TestTwoProcessesShareOneDatabase(t *testing.T) {
	db := dbPath(t)
	stable := start(t, db, nil)
	canary := start(t, db, nil)
	bases := []string{stable.URL(), canary.URL()}
	client := newClient(15 * time.Second)

	var (
		mu      sync.Mutex
		codes   []string
		tally   statusCounts
		wg      sync.WaitGroup
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
	deadline := time.Now().Add(3 * time.Second)
	for g := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := 0; time.Now().Before(deadline); i++ {
				base := bases[rand.IntN(2)]
				who := "stable"
				if base == canary.URL() {
					who = "canary"
				}
				switch r := rand.IntN(100); {
				case r < 50 || pick() == "":
					status, body, err := createLink(ctx, client, base, fmt.Sprintf("https://example.com/shared/%d/%d", g, i), "")
					if err != nil || status >= 500 || strings.Contains(body.Error, "locked") {
						tally.fail("create on %s: %d %q %v", who, status, body.Error, err)
						continue
					}
					tally.add(fmt.Sprintf("create %d", status))
					if status == http.StatusCreated {
						created.Add(1)
						mu.Lock()
						codes = append(codes, body.Code)
						mu.Unlock()
					}
				case r < 85:
					status, _, body, err := get(ctx, client, base+"/"+pick())
					if err != nil || (status != http.StatusFound && status != http.StatusGone) {
						tally.fail("redirect on %s: %d %v %.200s", who, status, err, body)
						continue
					}
					tally.add(fmt.Sprintf("redirect %d", status))
				default:
					req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/api/v1/links/"+pick(), nil)
					req.Header.Set("Authorization", "Bearer "+adminKey)
					resp, err := client.Do(req)
					if err != nil {
						tally.fail("delete on %s: %v", who, err)
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
						tally.fail("delete on %s: %d", who, resp.StatusCode)
						continue
					}
					tally.add(fmt.Sprintf("delete %d", resp.StatusCode))
				}
			}
		})
	}
	wg.Wait()
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
			t.Errorf("%s logged a lock error:\n%s", name, tail(in.output(), 2000))
		}
	}
}
