package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probe records what Drive does: concurrency, sequence numbers, workers.
type probe struct {
	work              time.Duration
	inFlight, maxSeen atomic.Int64
	finished          atomic.Int64
	cutOff            atomic.Int64 // requests whose context ended early
	mu                sync.Mutex
	seqs              map[int]bool
	workers           map[int]bool
}

func (p *probe) do(ctx context.Context, r Request) {
	n := p.inFlight.Add(1)
	for {
		m := p.maxSeen.Load()
		if n <= m || p.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	p.mu.Lock()
	if p.seqs[r.Seq] {
		panic("sequence number handed out twice")
	}
	p.seqs[r.Seq] = true
	p.workers[r.Worker] = true
	p.mu.Unlock()
	select {
	case <-time.After(p.work):
	case <-ctx.Done():
		p.cutOff.Add(1)
	}
	p.inFlight.Add(-1)
	p.finished.Add(1)
}

func TestDrive(t *testing.T) {
	tests := []struct {
		name           string
		pace           Pace
		work, run      time.Duration
		minStarted     int
		maxStarted     int
		maxConcurrent  int64
		wantSaturation bool
		wantWorkers    int
	}{
		// 3 workers, 20 ms per request, 300 ms: about 45 requests.
		{name: "closed loop", pace: Pace{Workers: 3}, work: 20 * time.Millisecond, run: 300 * time.Millisecond,
			minStarted: 15, maxStarted: 60, maxConcurrent: 3, wantWorkers: 3},
		// 200/s for 500 ms with instant answers: about 100 requests.
		{name: "open loop", pace: Pace{RPS: 200}, work: 0, run: 500 * time.Millisecond,
			minStarted: 50, maxStarted: 110, maxConcurrent: 256, wantWorkers: 1},
		// Answers take 200 ms but only 2 may be in flight: most are not started.
		// A limit ends the run before its context does.
		{name: "closed loop limit", pace: Pace{Workers: 4, Limit: 30}, work: time.Millisecond, run: 5 * time.Second,
			minStarted: 30, maxStarted: 30, maxConcurrent: 4, wantWorkers: 4},
		{name: "open loop limit", pace: Pace{RPS: 500, Limit: 20}, work: 0, run: 5 * time.Second,
			minStarted: 20, maxStarted: 20, maxConcurrent: 256, wantWorkers: 1},
		{name: "open loop saturated", pace: Pace{RPS: 200, MaxInFlight: 2}, work: 200 * time.Millisecond, run: 500 * time.Millisecond,
			minStarted: 2, maxStarted: 8, maxConcurrent: 2, wantSaturation: true, wantWorkers: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{work: tt.work, seqs: map[int]bool{}, workers: map[int]bool{}}
			var saturated atomic.Int64
			tt.pace.Saturated = func() { saturated.Add(1) }
			ctx, cancel := context.WithTimeout(context.Background(), tt.run)
			defer cancel()
			began := time.Now()
			stats, err := Drive(ctx, tt.pace, p.do)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); tt.pace.Limit > 0 && took > tt.run/2 {
				t.Errorf("a run limited to %d requests took %s", tt.pace.Limit, took)
			}
			if stats.Started < tt.minStarted || stats.Started > tt.maxStarted {
				t.Errorf("started %d requests, want %d..%d", stats.Started, tt.minStarted, tt.maxStarted)
			}
			if got := p.finished.Load(); got != int64(stats.Started) {
				t.Errorf("Drive returned with %d of %d requests finished", got, stats.Started)
			}
			if p.cutOff.Load() != 0 {
				t.Errorf("%d requests were cut off by the end of the run", p.cutOff.Load())
			}
			if m := p.maxSeen.Load(); m > tt.maxConcurrent {
				t.Errorf("%d requests in flight at once, want at most %d", m, tt.maxConcurrent)
			}
			for i := range stats.Started {
				if !p.seqs[i] {
					t.Fatalf("sequence number %d never handed out (started %d)", i, stats.Started)
				}
			}
			if len(p.workers) != tt.wantWorkers {
				t.Errorf("requests came from workers %v, want %d of them", p.workers, tt.wantWorkers)
			}
			if (stats.Saturated > 0) != tt.wantSaturation || int64(stats.Saturated) != saturated.Load() {
				t.Errorf("saturated %d (callback %d), want saturation %v", stats.Saturated, saturated.Load(), tt.wantSaturation)
			}
		})
	}
}

func TestDriveRejectsAmbiguousPace(t *testing.T) {
	for _, p := range []Pace{{}, {Workers: 2, RPS: 10}} {
		if _, err := Drive(context.Background(), p, func(context.Context, Request) {}); err == nil {
			t.Errorf("Drive(%+v): no error", p)
		}
	}
}
