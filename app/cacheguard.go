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
func (c *GuardedCache) Get(code string) (*Link, bool) { return c.inner.Get(code) }

// Add implements Cache.
func (c *GuardedCache) Add(code string, l *Link) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.inner.Add(code, l)
}

// Remove implements Cache.
func (c *GuardedCache) Remove(code string) bool { return c.inner.Remove(code) }

// Version returns the number of purges so far.
func (c *GuardedCache) Version() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// AddIfVersion adds l unless the cache was purged since Version returned v.
func (c *GuardedCache) AddIfVersion(v uint64, code string, l *Link) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.version == v {
		c.inner.Add(code, l)
	}
}

// Purge empties the cache.
func (c *GuardedCache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version++
	c.inner.Purge()
}

// Watch polls src every interval until ctx ends and purges the cache when
// the change counter moved, or when a poll fails or takes longer than
// interval (then nothing proves the entries are still current). onError, if
// set, hears about failed polls.
func (c *GuardedCache) Watch(ctx context.Context, src ChangeSource, interval time.Duration, onError func(error)) {
	poll := func() (int64, error) {
		pctx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		return src.ChangeSeq(pctx)
	}
	last, err := poll()
	known := err == nil
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seq, err := poll()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			c.Purge()
			known = false
			if onError != nil {
				onError(err)
			}
		case !known || seq != last:
			c.Purge()
			last, known = seq, true
		}
	}
}
