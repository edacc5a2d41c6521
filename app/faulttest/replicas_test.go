package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// startReplicas runs n shortener processes on one PostgreSQL database.
func startReplicas(t *testing.T, n int, url string, env []string, args ...string) []*instance {
	t.Helper()
	out := make([]*instance, n)
	for i := range out {
		out[i] = start(t, url, env, args...)
	}
	return out
}

// staleness records, per deleted code, when its delete was acknowledged,
// and checks every redirect answer against it.
type staleness struct {
	mu      sync.Mutex
	acked   map[string]time.Time
	bound   time.Duration
	late    []string      // 302s for requests sent more than bound after the ack
	maxSeen time.Duration // latest 302 (request start) after an ack
	checked atomic.Int64  // answers about deleted links
}

func (s *staleness) ack(code string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[code] = at
}

// observe notes an answer for code to a request sent at sent.
func (s *staleness) observe(replica int, code string, sent time.Time, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, deleted := s.acked[code]
	if !deleted || sent.Before(at) {
		return
	}
	s.checked.Add(1)
	if status != http.StatusFound {
		return
	}
	lag := sent.Sub(at)
	s.maxSeen = max(s.maxSeen, lag)
	if lag > s.bound && len(s.late) < 20 {
		s.late = append(s.late, fmt.Sprintf("replica %d served deleted %s %s after its delete was acknowledged", replica, code, lag.Round(time.Millisecond)))
	}
}

// deleteWhileWatched warms every replica's cache with codes, then deletes
// them one by one through rotating replicas while each replica is asked for
// them all the time, and fails if any replica redirects a deleted link for
// a request sent more than a second after the delete was acknowledged.
// between runs after each delete (to break things meanwhile).
func deleteWhileWatched(t *testing.T, reps []*instance, codes []string, between func()) *staleness {
	t.Helper()
	ctx := context.Background()
	client := newClient(10 * time.Second)
	for i, r := range reps {
		for _, c := range codes {
			if status, _, _, err := get(ctx, client, r.URL()+"/"+c); err != nil || status != http.StatusFound {
				t.Fatalf("warm replica %d with %s: %d %v", i, c, status, err)
			}
		}
	}
	st := &staleness{acked: map[string]time.Time{}, bound: time.Second}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var errs atomic.Int64
	for i, r := range reps {
		for w := range 2 {
			wg.Go(func() {
				for k := w; watchCtx.Err() == nil; k++ {
					code := codes[k%len(codes)]
					sent := time.Now()
					status, _, _, err := get(watchCtx, client, r.URL()+"/"+code)
					if err != nil {
						if watchCtx.Err() == nil {
							errs.Add(1)
						}
						continue
					}
					st.observe(i, code, sent, status)
				}
			})
		}
	}
	for k, code := range codes {
		time.Sleep(50 * time.Millisecond)
		if status := deleteLink(t, ctx, client, reps[k%len(reps)].URL(), code); status != http.StatusNoContent {
			t.Fatalf("delete %s: %d", code, status)
		}
		st.ack(code, time.Now())
		if between != nil {
			between()
		}
	}
	time.Sleep(1500 * time.Millisecond) // watch past the bound of the last delete
	stopWatch()
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Errorf("%d redirect requests failed", n)
	}
	if st.checked.Load() < int64(10*len(codes)) {
		t.Fatalf("only %d answers about deleted links: the watch did not run", st.checked.Load())
	}
	return st
}

func makeLinks(t *testing.T, r *instance, n int) []string {
	t.Helper()
	client := newClient(10 * time.Second)
	var codes []string
	for i := range n {
		status, body, err := createLink(context.Background(), client, r.URL(), fmt.Sprintf("https://example.com/replicas/%d", i), "")
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create: %d %q %v", status, body.Error, err)
		}
		codes = append(codes, body.Code)
	}
	return codes
}

// TestReplicasSeeDeletesThroughNotifications: three replicas on one
// PostgreSQL, their caches warm; each delete, made through any replica, is
// honoured by all within a second. The counter poll is set to every 10 s
// here, so only the notifications (LISTEN/NOTIFY) can meet the bound.
func TestReplicasSeeDeletesThroughNotifications(t *testing.T) {
	_, url := pgtest.NewDatabase(t)
	reps := startReplicas(t, 3, url, pgtest.Env(t), "--cache-ttl", "20s")
	codes := makeLinks(t, reps[0], 24)
	st := deleteWhileWatched(t, reps, codes, nil)
	t.Logf("%d answers about deleted links; latest redirect of a deleted link: %s after its delete", st.checked.Load(), st.maxSeen.Round(time.Millisecond))
	if len(st.late) > 0 {
		t.Fatalf("deleted links served after a second:\n%s", strings.Join(st.late, "\n"))
	}
}

// TestReplicasFallBackToPolling: the replicas' notification connections
// are killed after every delete (so notifications are lost and each
// replica reconnects), and still no replica serves a deleted link a second
// after its delete: the change counter, polled every half --cache-ttl and
// at once after a reconnect, is the fallback.
func TestReplicasFallBackToPolling(t *testing.T) {
	srv := pgtest.Server(t)
	name, url := pgtest.NewDatabase(t)
	reps := startReplicas(t, 3, url, pgtest.Env(t), "--cache-ttl", "1s")
	codes := makeLinks(t, reps[0], 16)
	ctx := context.Background()
	var killed int64
	kill := func() {
		n, err := srv.QueryInt(ctx, name, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE 'shortener % listen'`)
		if err != nil {
			t.Errorf("terminate listeners: %v", err)
		}
		killed += n
	}
	st := deleteWhileWatched(t, reps, codes, kill)
	t.Logf("%d listener connections killed; %d answers about deleted links; latest redirect of a deleted link: %s after its delete",
		killed, st.checked.Load(), st.maxSeen.Round(time.Millisecond))
	if killed < int64(len(codes)) {
		t.Fatalf("only %d listener connections were found to kill: the fault did not happen", killed)
	}
	if len(st.late) > 0 {
		t.Fatalf("deleted links served after a second:\n%s", strings.Join(st.late, "\n"))
	}
	for i, r := range reps {
		if !strings.Contains(r.output(), "link change notifications stopped") {
			t.Errorf("replica %d did not log the lost notification connection", i)
		}
	}
}
