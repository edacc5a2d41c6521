package app

import (
	"context"
	"fmt"
	"time"
)

// CodeTarget is one link as the redirect cache holds it.
type CodeTarget struct {
	Code   string
	Target Target
}

// TargetSource lists the links a redirect cache is filled with.
type TargetSource interface {
	// ListTargets returns up to limit links that are live at now (not
	// deleted, disabled or expired), with codes after after, in code
	// order. A protected link's Target has TargetProtected (and never its
	// password hash), so that the cache asks for the password.
	ListTargets(ctx context.Context, after string, limit int, now time.Time) ([]CodeTarget, error)
}

// fillBatch is how many links one read of Fill asks for: large enough
// that a million links take a hundred reads, small enough that a batch
// read while a purge happens costs little to read again.
const fillBatch = 10_000

// Fill loads up to limit live links from src into the cache, in code
// order, and returns how many it added. Run it in the background at
// start: with every link in memory, a request for any of them is a cache
// hit from its first time, where a cache filled only by misses would send
// most requests over a large set of links to the store for a long while.
// A batch read while the cache was purged (a change elsewhere) is read
// again, so that nothing older than the purge is added after it.
func (c *GuardedCache) Fill(ctx context.Context, src TargetSource, limit int, now func() time.Time) (int, error) {
	added, after := 0, ""
	for added < limit {
		v := c.Version()
		batch, err := src.ListTargets(ctx, after, min(fillBatch, limit-added), now())
		if err != nil {
			return added, fmt.Errorf("fill redirect cache: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		if !c.addAllIfVersion(v, batch) {
			continue
		}
		added += len(batch)
		after = batch[len(batch)-1].Code
	}
	return added, nil
}

// addAllIfVersion adds batch unless the cache was purged since Version
// returned v, and reports whether it did.
func (c *GuardedCache) addAllIfVersion(v uint64, batch []CodeTarget) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.version != v {
		return false
	}
	for _, ct := range batch {
		c.inner.Add(ct.Code, ct.Target)
	}
	return true
}
