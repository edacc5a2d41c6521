package faulttest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
)

// TestSIGTERMUnderLoad sends SIGTERM while requests are in flight. The load
// generator behaves like a load balancer: it polls /readyz and stops sending
// new requests once it answers 503. Every request sent must get its answer
// (none may fail), /readyz must turn 503 before the listener closes, and
// requests that were in flight when the listener closed must still complete.
// Each request takes 1.2 s (injected latency) so that many are in flight.
func TestSIGTERMUnderLoad(t *testing.T) {
	const drainDelay = 600 * time.Millisecond
	in := start(t, dbPath(t), nil, "--fault-latency", "1200ms", "--drain-delay", drainDelay.String(), "--shutdown-timeout", "10s")
	client := newClient(10 * time.Second)
	ctx := context.Background()
	status, seed, err := createLink(ctx, client, in.URL(), "https://example.com/seed", "")
	if err != nil || status != http.StatusCreated {
		t.Fatalf("seed link: %d %v", status, err)
	}

	// The load runs until the "load balancer" sees readyz 503.
	lbIn, lbOut := context.WithCancel(ctx)
	defer lbOut()
	var (
		mu       sync.Mutex
		notReady time.Time // first readyz 503
		closed   time.Time // first refused connection on the public listener
		spans    [][2]time.Time
		tally    statusCounts
		polls    sync.WaitGroup
	)
	polls.Go(func() { // readiness, as a load balancer checks it
		defer lbOut() // also when the process exits without ever saying 503
		for !in.exited() {
			st, _, _, err := get(ctx, client, in.AdminURL()+"/readyz")
			if err == nil && st == http.StatusServiceUnavailable {
				mu.Lock()
				notReady = time.Now()
				mu.Unlock()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	polls.Go(func() { // when the public listener stops accepting
		for !in.exited() {
			c, err := net.DialTimeout("tcp", in.Addr, time.Second)
			if err != nil {
				mu.Lock()
				closed = time.Now()
				mu.Unlock()
				return
			}
			c.Close()
			time.Sleep(10 * time.Millisecond)
		}
	})
	wait := load(t, lbIn, loadgen.Pace{Workers: 16}, func(rctx context.Context, r loadgen.Request) {
		begin := time.Now()
		if r.Seq%2 == 0 {
			st, body, err := createLink(rctx, client, in.URL(), fmt.Sprintf("https://example.com/term/%d", r.Seq), "")
			if err != nil || st != http.StatusCreated {
				tally.fail("create: %d %q %v", st, body.Error, err)
				return
			}
			tally.add("create 201")
		} else {
			st, _, _, err := get(rctx, client, in.URL()+"/"+seed.Code)
			if err != nil || st != http.StatusFound {
				tally.fail("redirect: %d %v", st, err)
				return
			}
			tally.add("redirect 302")
		}
		mu.Lock()
		spans = append(spans, [2]time.Time{begin, time.Now()})
		mu.Unlock()
	})
	time.Sleep(2500 * time.Millisecond)
	term := time.Now()
	exit := in.terminate(30 * time.Second)
	wait()
	polls.Wait()

	t.Logf("answers: %s", tally.String())
	if n, errs := tally.failures(); n > 0 {
		t.Errorf("%d requests failed during shutdown: %v", n, errs)
	}
	if exit != nil {
		t.Errorf("exit after SIGTERM: %v, want a clean exit", exit)
	}
	if notReady.IsZero() || closed.IsZero() {
		t.Fatalf("readyz 503 seen at %v, listener closed at %v: one was never observed", notReady, closed)
	}
	t.Logf("after SIGTERM: readyz 503 at +%s, listener closed at +%s", notReady.Sub(term).Round(time.Millisecond), closed.Sub(term).Round(time.Millisecond))
	if !notReady.Before(closed) {
		t.Errorf("readyz turned 503 at %v, not before the listener closed at %v", notReady, closed)
	}
	if gap := closed.Sub(notReady); gap < drainDelay/2 {
		t.Errorf("readyz was 503 only %s before the listener closed; --drain-delay is %s", gap, drainDelay)
	}
	inflight := 0
	for _, s := range spans {
		if s[0].Before(closed) && s[1].After(closed) {
			inflight++
		}
	}
	t.Logf("%d requests were in flight when the listener closed, and all completed", inflight)
	if inflight < 3 {
		t.Errorf("only %d requests in flight at listener close; the test did not exercise draining", inflight)
	}
}
