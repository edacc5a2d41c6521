package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
)

type proberFunc func(context.Context) error

func (f proberFunc) ProbeWrite(ctx context.Context) error { return f(ctx) }

// TestStoreHealthReadyIsCached: the read check runs at most once per
// ReadyTTL, failures are cached like successes, and a caller that hangs up
// does not cut the check short (which would cache a false failure).
func TestStoreHealthReadyIsCached(t *testing.T) {
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	checks := 0
	var fail error
	store := &mock.LinkStore{ReadyFn: func(ctx context.Context) error {
		checks++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail
	}}
	h := app.NewStoreHealth(store, nil, app.StoreHealthOptions{ReadyTTL: time.Second, Now: clock.Now})

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Ready(gone); err != nil {
		t.Fatalf("ready with a cancelled caller: %v, want the check to run on its own context", err)
	}
	for range 5 {
		if err := h.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if checks != 1 {
		t.Fatalf("%d checks within one interval, want 1", checks)
	}
	fail = errors.New("database not readable")
	clock.Advance(time.Second)
	if err := h.Ready(context.Background()); !errors.Is(err, fail) {
		t.Fatalf("after the interval: %v, want the new failure", err)
	}
	clock.Advance(500 * time.Millisecond)
	fail = nil
	if err := h.Ready(context.Background()); err == nil || checks != 2 {
		t.Fatalf("failure not reused within its interval: err %v, %d checks", err, checks)
	}
	clock.Advance(-time.Hour) // a clock stepped back does not freeze the answer
	if err := h.Ready(context.Background()); err != nil || checks != 3 {
		t.Fatalf("after the clock stepped back: err %v, %d checks; want a fresh check", err, checks)
	}
}

// TestStoreHealthWriteProbe: before any probe the store is not known to be
// writable; each probe records its outcome and tells OnWriteStatus; Ready
// never probes writes, and a probe cut short by shutdown records nothing.
func TestStoreHealthWriteProbe(t *testing.T) {
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	probeErr := errors.New("database not writable: the disk is full")
	var probes int
	var fail bool
	prober := proberFunc(func(context.Context) error {
		probes++
		if fail {
			return probeErr
		}
		return nil
	})
	var heard []bool
	store := &mock.LinkStore{ReadyFn: func(context.Context) error { return nil }}
	h := app.NewStoreHealth(store, prober, app.StoreHealthOptions{Now: clock.Now, OnWriteStatus: func(ok bool) { heard = append(heard, ok) }})

	if st := h.Writable(); st.Writable() || st.Err == nil || !st.Checked.IsZero() {
		t.Fatalf("before any probe: %+v, want not writable, not checked", st)
	}
	if err := h.Ready(context.Background()); err != nil || probes != 0 {
		t.Fatalf("Ready: err %v, %d write probes; want ready without a write", err, probes)
	}
	if st := h.ProbeWrite(context.Background()); !st.Writable() || !st.Checked.Equal(clock.Now()) {
		t.Fatalf("probe that wrote: %+v", st)
	}
	fail = true
	clock.Advance(5 * time.Second)
	st := h.ProbeWrite(context.Background())
	if st.Writable() || !errors.Is(st.Err, probeErr) || !st.Checked.Equal(clock.Now()) {
		t.Fatalf("probe that failed: %+v", st)
	}
	if got := h.Writable(); got != st {
		t.Fatalf("Writable() = %+v, want the last probe %+v", got, st)
	}
	if err := h.Ready(context.Background()); err != nil {
		t.Fatalf("a store that refuses writes is not ready: %v", err)
	}
	if len(heard) != 2 || !heard[0] || heard[1] {
		t.Fatalf("OnWriteStatus heard %v, want [true false]", heard)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fail = false
	h.ProbeWrite(ctx)
	if got := h.Writable(); got != st || len(heard) != 2 {
		t.Fatalf("a probe during shutdown changed the status to %+v (heard %v)", got, heard)
	}
}

// TestStoreHealthRunProbesAtOnce: Run probes before its first tick, so the
// gauge is current right after start, and stops with its context.
func TestStoreHealthRunProbesAtOnce(t *testing.T) {
	prober := proberFunc(func(context.Context) error { return nil })
	h := app.NewStoreHealth(&mock.LinkStore{ReadyFn: func(context.Context) error { return nil }}, prober, app.StoreHealthOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx, time.Hour); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); !h.Writable().Writable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not probe at start (the interval is an hour)")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestStoreHealthWatchWrites: real writes refused as unavailable mark the
// store not writable at once; a write that succeeds marks it writable again;
// answers such as a taken code or an unknown link change nothing. Reads
// pass through.
func TestStoreHealthWatchWrites(t *testing.T) {
	ctx := context.Background()
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var heard []bool
	inner := mock.NewMemStore()
	h := app.NewStoreHealth(inner, proberFunc(func(context.Context) error { return nil }),
		app.StoreHealthOptions{Now: clock.Now, OnWriteStatus: func(ok bool) { heard = append(heard, ok) }})
	h.ProbeWrite(ctx)
	var refuse error
	failing := &mock.LinkStore{
		CreateLinkFn: func(ctx context.Context, l *app.Link) error {
			if refuse != nil {
				return refuse
			}
			return inner.CreateLink(ctx, l)
		},
		FindLinkFn:   inner.FindLink,
		DeleteLinkFn: inner.DeleteLink,
		AddVisitsFn: func(ctx context.Context, c map[string]int64) error {
			if refuse != nil {
				return refuse
			}
			return inner.AddVisits(ctx, c)
		},
	}
	s := h.WatchWrites(failing)

	if err := s.CreateLink(ctx, &app.Link{Code: "abc", URL: "https://example.com/"}); err != nil {
		t.Fatal(err)
	}
	answers := []error{
		s.CreateLink(ctx, &app.Link{Code: "abc", URL: "https://example.com/"}), // conflict
		s.DeleteLink(ctx, "nothere", clock.Now()),                              // not found
	}
	for _, err := range answers {
		if err == nil {
			t.Fatal("expected a domain answer")
		}
	}
	if st := h.Writable(); !st.Writable() || len(heard) != 1 {
		t.Fatalf("answers changed write health: %+v, heard %v", st, heard)
	}

	clock.Advance(time.Second)
	refuse = fmt.Errorf("insert link: %w", app.Errorf(app.EUNAVAILABLE, "the disk is full"))
	if err := s.AddVisits(ctx, map[string]int64{"abc": 1}); !errors.Is(err, refuse) {
		t.Fatalf("AddVisits returned %v, want the store's error unchanged", err)
	}
	st := h.Writable()
	if st.Writable() || !errors.Is(st.Err, refuse) || !st.Checked.Equal(clock.Now()) {
		t.Fatalf("after a refused write: %+v, want not writable with the reason, now", st)
	}
	if l, err := s.FindLink(ctx, "abc"); err != nil || l.Code != "abc" {
		t.Fatalf("reads through the watcher: %v %v", l, err)
	}
	refuse = nil
	if err := s.CreateLink(ctx, &app.Link{Code: "def", URL: "https://example.com/"}); err != nil {
		t.Fatal(err)
	}
	if !h.Writable().Writable() {
		t.Fatalf("a successful write did not mark the store writable: %+v", h.Writable())
	}
	if len(heard) != 3 || heard[1] || !heard[2] {
		t.Fatalf("OnWriteStatus heard %v, want [true false true]", heard)
	}
}
