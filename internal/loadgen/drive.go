package loadgen

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pace says how Drive starts requests: a closed loop (Workers) or an open
// loop (RPS). Set exactly one of the two.
type Pace struct {
	// Workers > 0 runs a closed loop: each worker sends its next request
	// as soon as the previous one is answered, so the rate follows the
	// server (what a fixed pool of clients does).
	Workers int
	// RPS > 0 runs an open loop: requests start on schedule however slow
	// the answers are, at most MaxInFlight at a time.
	RPS float64
	// MaxInFlight bounds concurrent requests of the open loop (default
	// 256). A request due while that many are in flight is not started:
	// Saturated is called for it and Stats counts it.
	MaxInFlight int
	// Saturated, if set, is called for each request the open loop could
	// not start.
	Saturated func()
	// Limit, if above 0, ends the run once that many requests started.
	Limit int
}

// Request identifies one request of a run.
type Request struct {
	// Worker is the closed loop's worker (0..Workers-1); 0 in an open loop.
	Worker int
	// Seq numbers the requests of the run from 0, unique across workers.
	Seq int
}

// Stats says what a run did.
type Stats struct {
	Started   int // requests handed to do
	Saturated int // open loop: requests not started, MaxInFlight in flight
}

// Drive calls do for each request, paced as p says, until ctx ends or
// p.Limit requests have started, then waits for the requests in flight. Those finish: do gets a context that
// keeps ctx's values but does not end with it, so a request is never cut
// off by the end of the run (do can use ctx itself to abandon requests).
func Drive(ctx context.Context, p Pace, do func(ctx context.Context, r Request)) (Stats, error) {
	switch {
	case (p.Workers > 0) == (p.RPS > 0):
		return Stats{}, errors.New("pace: set either workers or rps")
	case p.Workers > 0:
		return closedLoop(ctx, p.Workers, p.Limit, do), nil
	}
	if p.MaxInFlight <= 0 {
		p.MaxInFlight = 256
	}
	return openLoop(ctx, p, do), nil
}

func closedLoop(ctx context.Context, workers, limit int, do func(context.Context, Request)) Stats {
	var (
		mu  sync.Mutex
		seq int
		wg  sync.WaitGroup
	)
	next := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || (limit > 0 && seq >= limit) {
			return 0, false
		}
		seq++
		return seq - 1, true
	}
	reqCtx := context.WithoutCancel(ctx)
	for w := range workers {
		wg.Go(func() {
			for {
				n, ok := next()
				if !ok {
					return
				}
				do(reqCtx, Request{Worker: w, Seq: n})
			}
		})
	}
	wg.Wait()
	return Stats{Started: seq}
}

func openLoop(ctx context.Context, p Pace, do func(context.Context, Request)) Stats {
	sem := make(chan struct{}, p.MaxInFlight)
	var (
		wg    sync.WaitGroup
		stats Stats
	)
	defer wg.Wait()
	reqCtx := context.WithoutCancel(ctx)
	every := time.Duration(float64(time.Second) / p.RPS)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for p.Limit <= 0 || stats.Started < p.Limit {
		next = next.Add(every)
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return stats
		case <-timer.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			// Too many in flight: a request that never started is
			// reported, not a silently lowered rate.
			stats.Saturated++
			if p.Saturated != nil {
				p.Saturated()
			}
			continue
		}
		seq := stats.Started
		stats.Started++
		wg.Go(func() {
			defer func() { <-sem }()
			do(reqCtx, Request{Seq: seq})
		})
	}
	return stats
}
