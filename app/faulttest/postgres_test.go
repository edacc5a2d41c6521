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
	"github.com/obsshort/shortener/internal/pgtest"
	"github.com/obsshort/shortener/telemetry"
)

// TestPostgresRestartMidLoad restarts PostgreSQL under two replicas serving
// redirects and creates. While it is down: redirects of cached links keep
// answering 302, creates answer 503 with a message saying why, /readyz
// stays 200 and its admin detail and shortener_store_reachable show the
// lost connection. When it is back the replicas recover by themselves, and
// every link acknowledged with 201 resolves. The superuser's password
// (given as PGPASSWORD) appears in no log line, /readyz or /metrics answer.
func TestPostgresRestartMidLoad(t *testing.T) {
	srv := pgtest.Dedicated(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "shortener"); err != nil {
		t.Fatal(err)
	}
	reps := startReplicas(t, 2, srv.URL("shortener"), srv.Env(), "--visit-flush-interval", "200ms", "--db-timeout", "1s")
	warm := makeLinks(t, reps[0], 20)
	client := newClient(10 * time.Second)
	for _, r := range reps {
		for _, c := range warm {
			if st, _, _, err := get(ctx, client, r.URL()+"/"+c); err != nil || st != http.StatusFound {
				t.Fatalf("warm %s: %d %v", c, st, err)
			}
		}
	}

	var (
		tally      statusCounts
		mu         sync.Mutex
		acked      = map[string]string{}
		refused    []string
		createdAt  []time.Time
		down, back atomic.Int64 // unix nanos of the outage's start and end
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	wait := load(t, loadCtx, loadgen.Pace{RPS: 400, MaxInFlight: 64}, func(rctx context.Context, req loadgen.Request) {
		r := reps[rand.IntN(len(reps))]
		if rand.IntN(10) < 7 {
			code := warm[rand.IntN(len(warm))]
			st, _, body, err := get(rctx, client, r.URL()+"/"+code)
			if err != nil || st != http.StatusFound {
				tally.fail("redirect of cached %s: %d %v %.200s", code, st, err, body)
				return
			}
			tally.add("redirect 302")
			return
		}
		target := fmt.Sprintf("https://example.com/restart/%d", req.Seq)
		st, body, err := createLink(rctx, client, r.URL(), target, "")
		switch {
		case err != nil:
			if rctx.Err() == nil {
				tally.fail("create: %v", err)
			}
		case st == http.StatusCreated:
			tally.add("create 201")
			mu.Lock()
			acked[body.Code] = body.URL
			createdAt = append(createdAt, time.Now())
			mu.Unlock()
		case st == http.StatusServiceUnavailable:
			tally.add("create 503")
			mu.Lock()
			if len(refused) < 5 {
				refused = append(refused, body.Error)
			}
			mu.Unlock()
		default:
			tally.fail("create: %d %q", st, body.Error)
		}
	})

	time.Sleep(time.Second)
	down.Store(time.Now().UnixNano())
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// During the outage both listeners stay ready, and the admin detail
	// and the gauge say the database cannot be reached.
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range reps {
		for {
			h := storeHealth(t, ctx, client, r)
			if !h.Reachable && h.ReachableError != "" && metricValue(t, r, telemetry.MetricStoreReachable) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("10 s into the outage the admin /readyz detail says %+v and %s = %v", h, telemetry.MetricStoreReachable, metricValue(t, r, telemetry.MetricStoreReachable))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st, _, body, err := get(ctx, client, r.URL()+"/readyz"); err != nil || st != http.StatusOK {
			t.Fatalf("public /readyz during the outage: %d %s %v, want 200 (cached redirects work)", st, body, err)
		}
	}
	time.Sleep(time.Second)
	if err := srv.Start(ctx, ""); err != nil {
		t.Fatal(err)
	}
	back.Store(time.Now().UnixNano())

	// The replicas recover by themselves: creates succeed again.
	recovered := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(createdAt)
		last := time.Time{}
		if n > 0 {
			last = createdAt[n-1]
		}
		mu.Unlock()
		if last.UnixNano() > back.Load() {
			recovered = true
			break
		}
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	wait()
	outage := time.Duration(back.Load() - down.Load())
	t.Logf("outage %s; answers: %s; a refused create said: %q", outage.Round(time.Millisecond), tally.String(), first(refused))
	if n, errs := tally.failures(); n > 0 {
		t.Fatalf("%d requests failed (redirects of cached links must keep working, creates must answer 201 or 503):\n%s", n, strings.Join(errs, "\n"))
	}
	if len(refused) == 0 {
		t.Fatal("no create was refused while PostgreSQL was down: the fault did not happen")
	}
	for _, msg := range refused {
		if !strings.Contains(msg, "database") || strings.Contains(msg, "pgconn") || strings.Contains(msg, "SQLSTATE") {
			t.Fatalf("a refused create says %q; want a plain message about the database", msg)
		}
	}
	if !recovered {
		t.Fatal("no create succeeded within 15 s of PostgreSQL coming back")
	}
	for _, r := range reps {
		for deadline := time.Now().Add(10 * time.Second); !storeHealth(t, ctx, client, r).Reachable; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("admin /readyz still says unreachable 10 s after PostgreSQL came back")
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for code, url := range acked {
		for i, r := range reps {
			st, loc, _, err := get(ctx, client, r.URL()+"/"+code)
			if err != nil || st != http.StatusFound || loc != url {
				t.Fatalf("acknowledged link %s on replica %d after the restart: %d %q %v", code, i, st, loc, err)
			}
		}
	}
	t.Logf("%d acknowledged links all resolve on both replicas", len(acked))
	checkNoSecret(t, ctx, client, reps, srv.Password, srv.Addr)
}

// checkNoSecret fails if secret shows in a replica's output or in its
// /readyz (both listeners) or /metrics answers. The output must name
// server (the logged connection errors do), or the check saw nothing.
func checkNoSecret(t *testing.T, ctx context.Context, client *http.Client, reps []*instance, secret, server string) {
	t.Helper()
	for i, r := range reps {
		texts := map[string]string{"output": r.output()}
		for _, u := range []string{r.URL() + "/readyz", r.AdminURL() + "/readyz", r.AdminURL() + "/metrics"} {
			_, _, body, err := get(ctx, client, u)
			if err != nil {
				t.Fatal(err)
			}
			texts[u] = body
		}
		for where, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("replica %d: the database password appears in %s", i, where)
			}
		}
		if !strings.Contains(texts["output"], server) {
			t.Errorf("replica %d: its log does not name the database server %s; the password check looked at the wrong text", i, server)
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestPostgresPoolExhaustion: with every pooled connection stuck behind a
// lock, requests that need the database queue for a free connection and
// answer 503 when --db-timeout runs out; none hangs, cached redirects keep
// working, and once the lock goes creates succeed again.
func TestPostgresPoolExhaustion(t *testing.T) {
	srv := pgtest.Server(t)
	name, url := pgtest.NewDatabase(t)
	in := start(t, url, pgtest.Env(t), "--db-pool", "2", "--db-timeout", "500ms")
	ctx := context.Background()
	client := newClient(10 * time.Second)
	cached := makeLinks(t, in, 1)[0]
	if st, _, _, err := get(ctx, client, in.URL()+"/"+cached); err != nil || st != http.StatusFound {
		t.Fatalf("warm %s: %d %v", cached, st, err)
	}

	conn, err := srv.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE links IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	// Twelve requests needing the database at once, on a pool of two.
	type answer struct {
		status int
		took   time.Duration
		msg    string
		err    error
	}
	answers := make(chan answer, 12)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			begin := time.Now()
			if i%2 == 0 {
				st, body, err := createLink(ctx, client, in.URL(), fmt.Sprintf("https://example.com/pool/%d", i), "")
				answers <- answer{st, time.Since(begin), body.Error, err}
				return
			}
			st, _, body, err := get(ctx, client, in.URL()+"/api/v1/links/"+cached)
			answers <- answer{st, time.Since(begin), body, err}
		})
	}
	// Cached redirects do not need the pool.
	if st, _, _, err := get(ctx, client, in.URL()+"/"+cached); err != nil || st != http.StatusFound {
		t.Fatalf("cached redirect while the pool is stuck: %d %v", st, err)
	}
	wg.Wait()
	close(answers)
	var slowest time.Duration
	for a := range answers {
		slowest = max(slowest, a.took)
		if a.err != nil {
			t.Fatalf("a request did not get an answer: %v (after %s)", a.err, a.took)
		}
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.msg, "did not answer within") {
			t.Fatalf("request on an exhausted pool: %d %q, want 503 saying the database did not answer in time", a.status, a.msg)
		}
	}
	t.Logf("12 requests on a stuck pool of 2: all 503, slowest after %s", slowest.Round(time.Millisecond))
	if slowest > 5*time.Second {
		t.Fatalf("a request waited %s with --db-timeout 500ms: callers are not bounded", slowest)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, _, err := createLink(ctx, client, in.URL(), "https://example.com/pool/after", "")
		if err == nil && st == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create 10 s after the lock went: %d %v", st, err)
		}
	}
}
