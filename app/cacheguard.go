package app

import (
	"context"
	"sync"
	"time"
)

// ChangeSource reports a number that grows whenever a stored link changes
// in a way a cached copy must not hide (deleted, new target or expiry), by
// any process sharing the store.
type ChangeSource interface {
	ChangeSeq(ctx context.Context) (int64, error)
}

// PurgeableCache is a Cache that can be emptied at once.
type PurgeableCache interface {
	Cache
	Purge()
}

// GuardedCache lets redirect-cache entries live long while a change made by
// another process is still seen quickly: Watch polls a change counter and
// empties the cache when it moves. (Expiring every entry after a couple of
// seconds instead makes nearly every request a miss once traffic spreads
// over more links than are requested per TTL.)
//
// A lookup that read a link before a purge must not cache it after the
// purge: Service.lookup takes the version before its store read and adds
// with AddIfVersion, which a purge in between turns into a no-op.
type GuardedCache struct {
	inner PurgeableCache

	mu      sync.RWMutex // write-held while purging
	version uint64
}

// NewGuardedCache wraps inner.
func NewGuardedCache(inner PurgeableCache) *GuardedCache {
	return &GuardedCache{inner: inner}
}

// Get implements Cache.
func (c *GuardedCache) Get(code string) (Target, bool) { return c.inner.Get(code) }

// Add implements Cache.
func (c *GuardedCache) Add(code string, t Target) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.inner.Add(code, t)
}

// Remove implements Cache.
func (c *GuardedCache) Remove(code string) bool { return c.inner.Remove(code) }

// Version returns the number of purges and invalidations so far.
func (c *GuardedCache) Version() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// AddIfVersion adds t unless the cache was purged since Version returned v.
func (c *GuardedCache) AddIfVersion(v uint64, code string, t Target) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.version == v {
		c.inner.Add(code, t)
	}
}

// Purge empties the cache.
func (c *GuardedCache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	c.inner.Purge()
}

// Invalidate removes code and, like a purge, makes lookups already reading
// the store not cache what they read (it may predate the change).
func (c *GuardedCache) Invalidate(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	c.inner.Remove(code)
}

// ChangeFeed pushes link changes as they commit (PostgreSQL's
// LISTEN/NOTIFY). ListenChanges calls listening once every later commit is
// sure to be delivered, then changed for each change in commit order with
// the change counter's new value (0 when unknown), until ctx ends or the
// connection fails; it returns why it stopped.
type ChangeFeed interface {
	ListenChanges(ctx context.Context, listening func(), changed func(seq int64, code string)) error
}

// WatchOptions say how a GuardedCache follows changes.
type WatchOptions struct {
	// Interval is how often the change counter is polled.
	Interval time.Duration
	// Feed, if set, delivers changes as they commit: each one drops only
	// its link from the cache, and the poll is the fallback that catches
	// a lost notification (a gap in the counter) or a dropped connection.
	Feed ChangeFeed
	// KeepOnError keeps the entries when a poll fails instead of emptying
	// the cache; the next poll that succeeds empties it if the counter
	// moved meanwhile. Right for a shared server (PostgreSQL): when no
	// replica reaches it nobody can delete a link either, and emptying
	// the cache would turn a database restart into a redirect outage.
	KeepOnError bool
	// OnError, if set, hears about failed polls and feed connections.
	OnError func(error)
	// OnFeed, if set, hears when the feed starts and stops listening.
	OnFeed func(listening bool)
}

// Watch polls src every interval until ctx ends and purges the cache when
// the change counter moved, or when a poll fails or takes longer than
// interval (then nothing proves the entries are still current). onError, if
// set, hears about failed polls.
func (c *GuardedCache) Watch(ctx context.Context, src ChangeSource, interval time.Duration, onError func(error)) {
	c.WatchWith(ctx, src, WatchOptions{Interval: interval, OnError: onError})
}

// changeTracker is what a watch knows of the change counter.
type changeTracker struct {
	mu    sync.Mutex
	last  int64  // the counter value whose changes the cache reflects
	known bool   // false until the first poll, and after a failed one (unless KeepOnError)
	epoch uint64 // notifications applied; a poll that raced one must not move last back
}

// WatchWith follows changes as o says until ctx ends.
func (c *GuardedCache) WatchWith(ctx context.Context, src ChangeSource, o WatchOptions) {
	tr := &changeTracker{}
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	if o.Feed != nil {
		wg.Go(func() { c.follow(ctx, o, tr, kick) })
	}
	c.poll(ctx, src, o, tr, kick)
	wg.Wait()
}

// poll checks the counter every interval, and at once when kicked.
func (c *GuardedCache) poll(ctx context.Context, src ChangeSource, o WatchOptions, tr *changeTracker, kick <-chan struct{}) {
	first := true
	check := func() {
		tr.mu.Lock()
		epoch := tr.epoch
		tr.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, o.Interval)
		seq, err := src.ChangeSeq(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		start := first
		first = false
		switch {
		case start && err == nil:
			// The start: the cache holds nothing older than this.
			tr.last, tr.known = seq, true
		case err != nil:
			if !o.KeepOnError {
				c.Purge()
				tr.known = false
			}
		case !tr.known || seq > tr.last || (seq < tr.last && tr.epoch == epoch):
			// Moved, or went back (a restored database): nothing proves
			// the entries current. A value behind a notification that
			// arrived during the poll is only late, not a change.
			c.Purge()
			tr.last, tr.known = seq, true
		}
		if err != nil && o.OnError != nil {
			o.OnError(err)
		}
	}
	check()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		check()
	}
}

// follow listens to the feed, reconnecting with a growing pause (up to
// the poll interval) when the connection drops.
func (c *GuardedCache) follow(ctx context.Context, o WatchOptions, tr *changeTracker, kick chan<- struct{}) {
	changed := func(seq int64, code string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.epoch++
		switch {
		case seq <= 0 || !tr.known:
			c.Purge() // a change we cannot place: start over
		case seq == tr.last+1:
			c.Invalidate(code)
			tr.last = seq
		case seq <= tr.last:
			c.Invalidate(code) // already covered by a purge; drop it anyway
		default:
			c.Purge() // a gap: a notification was lost
			tr.last = seq
		}
	}
	up := false     // listening now
	failed := false // the last attempt failed without listening
	listening := func() {
		up = true
		if o.OnFeed != nil {
			o.OnFeed(true)
		}
		// Changes committed while not listening were not announced:
		// check the counter now rather than at the next tick.
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	pause := 50 * time.Millisecond
	for {
		start := time.Now()
		err := o.Feed.ListenChanges(ctx, listening, changed)
		wasUp := up
		up = false
		if wasUp && o.OnFeed != nil {
			o.OnFeed(false)
		}
		if ctx.Err() != nil {
			return
		}
		// Said once per outage: a server that stays down fails every
		// reconnection, and each would say the same.
		if o.OnError != nil && err != nil && (wasUp || !failed) {
			o.OnError(err)
		}
		failed = !wasUp
		if time.Since(start) > time.Minute {
			pause = 50 * time.Millisecond // it ran a while: the server is back
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, max(o.Interval, 50*time.Millisecond))
	}
}
