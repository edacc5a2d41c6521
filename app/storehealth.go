package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// WriteProber is a store that can tell whether it takes writes right now.
type WriteProber interface {
	// ProbeWrite makes one small real write (a statement that changes
	// nothing would not notice a full disk) and says why it failed.
	ProbeWrite(ctx context.Context) error
}

// NotWritable is the error a WriteProber returns for a refused probe: for
// an EUNAVAILABLE error only its message, in words (the driver detail is
// not for the admin page); any other error wrapped.
func NotWritable(err error) error {
	if ErrorCode(err) == EUNAVAILABLE {
		return fmt.Errorf("database not writable: %s", ErrorMessage(err))
	}
	return fmt.Errorf("database not writable: %w", err)
}

// WriteStatus is what the last write probe or watched write said.
type WriteStatus struct {
	Checked time.Time // zero: nothing has been learnt yet
	Err     error     // why the last write was refused; nil when it went through
}

// Writable reports whether the last write went through.
func (w WriteStatus) Writable() bool { return !w.Checked.IsZero() && w.Err == nil }

// errNotProbed is the write status before the first probe.
var errNotProbed = errors.New("not checked yet")

// StoreHealthOptions tune a StoreHealth; zero values take the defaults.
type StoreHealthOptions struct {
	// ReadyTTL is how long a readiness answer is reused (default 1 s): any
	// number of /readyz calls cost at most one read check per ReadyTTL.
	ReadyTTL time.Duration
	// Timeout bounds each check (default 2 s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnWriteStatus, if set, hears every write status recorded, by a probe
	// or a watched write (the shortener_store_writable gauge).
	OnWriteStatus func(writable bool)
	// ServeUnreachable keeps the process ready when the read check fails
	// because the store cannot be reached (an EUNAVAILABLE error): right
	// for a server every replica shares (PostgreSQL), where taking one
	// replica out helps nobody and taking all out stops the redirects the
	// caches still serve. The failure shows in Reachable instead.
	ServeUnreachable bool
	// OnReachable, if set, hears every read check's outcome (the
	// shortener_store_reachable gauge).
	OnReachable func(reachable bool)
}

// ReachStatus is what the last read check said about reaching the store.
type ReachStatus struct {
	Checked time.Time // zero: no check yet
	Err     error     // why the store could not be reached; nil when it answered
}

// Reachable reports whether the last read check reached the store.
func (r ReachStatus) Reachable() bool { return !r.Checked.IsZero() && r.Err == nil }

// StoreHealth answers "can this process serve?" and "can the store take
// writes?" separately, without letting callers cause database work:
//
//   - Ready is a read-only check (the store answers reads, the schema is
//     current), run at most once per ReadyTTL whoever asks; the answer in
//     between comes from memory. A full disk or a read-only file keeps the
//     process ready: redirects and lookups still work.
//   - Write health comes from ProbeWrite, which Run calls in the background,
//     and from the real writes of a store wrapped by WatchWrites (a refused
//     create shows at once, not at the next probe); Writable only reads the
//     last outcome.
//
// (Readiness used to make a real write on every call: two processes checked
// by a load balancer every 500 ms were taken out together by one disk or
// lock problem, and anyone could make the public listener write.)
type StoreHealth struct {
	store  LinkStore
	prober WriteProber // nil: write health is not probed
	opt    StoreHealthOptions

	readyMu    sync.Mutex // held during a check: callers wait for its answer
	readyAt    time.Time
	readyErr   error
	readyKnown bool

	writeMu sync.RWMutex
	write   WriteStatus
	reach   ReachStatus // under writeMu
}

// NewStoreHealth checks readiness through store.Ready and write health
// through prober (which may be nil).
func NewStoreHealth(store LinkStore, prober WriteProber, opt StoreHealthOptions) *StoreHealth {
	if opt.ReadyTTL <= 0 {
		opt.ReadyTTL = time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &StoreHealth{store: store, prober: prober, opt: opt, write: WriteStatus{Err: errNotProbed}}
}

// Ready reports whether the store serves reads, from a check at most
// ReadyTTL old. ctx carries the caller's trace; its cancellation does not
// end the check, so a client hanging up cannot cache a false failure.
func (h *StoreHealth) Ready(ctx context.Context) error {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	now := h.opt.Now()
	if h.readyKnown && !now.Before(h.readyAt) && now.Sub(h.readyAt) < h.opt.ReadyTTL {
		return h.readyErr
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.opt.Timeout)
	defer cancel()
	err := h.store.Ready(cctx)
	reachErr := err
	if ErrorCode(err) != EUNAVAILABLE {
		reachErr = nil // it answered, whatever it said
	}
	h.writeMu.Lock()
	h.reach = ReachStatus{Checked: now, Err: reachErr}
	h.writeMu.Unlock()
	if h.opt.OnReachable != nil {
		h.opt.OnReachable(reachErr == nil)
	}
	if h.opt.ServeUnreachable && reachErr != nil {
		err = nil
	}
	h.readyErr = err
	h.readyAt, h.readyKnown = now, true
	return h.readyErr
}

// Reachable returns the outcome of the last read check.
func (h *StoreHealth) Reachable() ReachStatus {
	h.writeMu.RLock()
	defer h.writeMu.RUnlock()
	return h.reach
}

// Writable returns the last write status recorded.
func (h *StoreHealth) Writable() WriteStatus {
	h.writeMu.RLock()
	defer h.writeMu.RUnlock()
	return h.write
}

// ProbeWrite probes write health once and records the outcome.
func (h *StoreHealth) ProbeWrite(ctx context.Context) WriteStatus {
	if h.prober == nil {
		return h.Writable()
	}
	cctx, cancel := context.WithTimeout(ctx, h.opt.Timeout)
	err := h.prober.ProbeWrite(cctx)
	cancel()
	if ctx.Err() != nil {
		// Shutting down: the probe was cut short, which says nothing
		// about the store.
		return h.Writable()
	}
	return h.record(err)
}

func (h *StoreHealth) record(err error) WriteStatus {
	st := WriteStatus{Checked: h.opt.Now(), Err: err}
	h.writeMu.Lock()
	h.write = st
	h.writeMu.Unlock()
	if h.opt.OnWriteStatus != nil {
		h.opt.OnWriteStatus(st.Writable())
	}
	return st
}

// WatchWrites returns store with the outcome of its writes reported to h:
// a write refused as unavailable (full disk, read-only file) marks the
// store not writable at once, and a write that succeeds marks it writable.
// Other outcomes (conflict, not found, internal errors, timeouts) say
// nothing about write health and change nothing.
func (h *StoreHealth) WatchWrites(store LinkStore) LinkStore {
	return &writeWatcher{LinkStore: store, h: h}
}

// observeWrite records what a real write says about write health. The
// common case (a write succeeding while the store is known writable) takes
// only a read lock.
func (h *StoreHealth) observeWrite(err error) {
	switch {
	case err == nil:
		if !h.Writable().Writable() {
			h.record(nil)
		}
	case ErrorCode(err) == EUNAVAILABLE:
		h.record(fmt.Errorf("a write was refused: %w", err))
	}
}

type writeWatcher struct {
	LinkStore // reads pass through
	h         *StoreHealth
}

func (w *writeWatcher) CreateLink(ctx context.Context, l *Link) error {
	err := w.LinkStore.CreateLink(ctx, l)
	w.h.observeWrite(err)
	return err
}

func (w *writeWatcher) DeleteLink(ctx context.Context, code string, at time.Time) error {
	err := w.LinkStore.DeleteLink(ctx, code, at)
	w.h.observeWrite(err)
	return err
}

func (w *writeWatcher) UpdateLink(ctx context.Context, code string, u LinkUpdate) (*Link, error) {
	l, err := w.LinkStore.UpdateLink(ctx, code, u)
	w.h.observeWrite(err)
	return l, err
}

func (w *writeWatcher) ImportLinks(ctx context.Context, links []*Link) ([]ImportOutcome, error) {
	out, err := w.LinkStore.ImportLinks(ctx, links)
	w.h.observeWrite(err)
	return out, err
}

func (w *writeWatcher) AddVisits(ctx context.Context, counts map[string]int64) error {
	err := w.LinkStore.AddVisits(ctx, counts)
	w.h.observeWrite(err)
	return err
}

// Run probes write health, and checks readiness (so the reachability gauge
// moves without a /readyz caller), at once and then every interval until
// ctx ends.
func (h *StoreHealth) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.ProbeWrite(ctx)
		h.Ready(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
