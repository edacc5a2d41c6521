package app_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
)

type purgeableMap struct {
	mu sync.Mutex
	m  map[string]app.Target
}

func (c *purgeableMap) Get(k string) (app.Target, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[k]
	return l, ok
}

func (c *purgeableMap) Add(k string, l app.Target) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = l
	return false
}

func (c *purgeableMap) Remove(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	delete(c.m, k)
	return ok
}

func (c *purgeableMap) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// guardedKinds are the caches the guard is tested around: a plain map,
// and the RedirectCache the server uses, whose removals and purges must
// invalidate alike.
var guardedKinds = []struct {
	name string
	new  func() app.PurgeableCache
}{
	{"map", func() app.PurgeableCache { return &purgeableMap{m: map[string]app.Target{}} }},
	{"redirect cache", func() app.PurgeableCache { return app.NewRedirectCache(1000) }},
}

// eachGuarded runs test once per cache kind, each behind a GuardedCache.
func eachGuarded(t *testing.T, test func(t *testing.T, c *app.GuardedCache)) {
	for _, kind := range guardedKinds {
		t.Run(kind.name, func(t *testing.T) { test(t, app.NewGuardedCache(kind.new())) })
	}
}

type changeFunc func(context.Context) (int64, error)

func (f changeFunc) ChangeSeq(ctx context.Context) (int64, error) { return f(ctx) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGuardedCachePurgesOnChangeAndOnError(t *testing.T) {
	eachGuarded(t, testGuardedCachePurgesOnChangeAndOnError)
}

func testGuardedCachePurgesOnChangeAndOnError(t *testing.T, c *app.GuardedCache) {
	var seq atomic.Int64
	var fail atomic.Bool
	var errs, polls atomic.Int64
	src := changeFunc(func(context.Context) (int64, error) {
		polls.Add(1)
		if fail.Load() {
			return 0, errors.New("database gone")
		}
		return seq.Load(), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx, src, 5*time.Millisecond, func(error) { errs.Add(1) })

	c.Add("abc", app.Target{URL: "https://example.com/abc"})
	// Several polls must have run, and seen no change, before the entry is
	// checked; otherwise the check proves nothing.
	after := polls.Load()
	waitFor(t, "three polls without a change", func() bool { return polls.Load() >= after+3 })
	if _, ok := c.Get("abc"); !ok {
		t.Fatal("entry purged although nothing changed")
	}
	if v := c.Version(); v != 0 {
		t.Fatalf("%d purges although nothing changed", v)
	}
	seq.Add(1)
	waitFor(t, "purge after a change", func() bool { _, ok := c.Get("abc"); return !ok })

	c.Add("abc", app.Target{URL: "https://example.com/abc"})
	fail.Store(true)
	waitFor(t, "purge after a failed poll", func() bool { _, ok := c.Get("abc"); return !ok && errs.Load() > 0 })
}

func TestGuardedCacheRefusesAddAcrossPurge(t *testing.T) {
	eachGuarded(t, testGuardedCacheRefusesAddAcrossPurge)
}

func testGuardedCacheRefusesAddAcrossPurge(t *testing.T, c *app.GuardedCache) {
	v := c.Version()
	c.Purge() // a delete elsewhere was noticed while the store read ran
	c.AddIfVersion(v, "abc", app.Target{URL: "https://example.com/abc"})
	if _, ok := c.Get("abc"); ok {
		t.Fatal("a link read before the purge was cached after it")
	}
	c.AddIfVersion(c.Version(), "abc", app.Target{URL: "https://example.com/abc"})
	if _, ok := c.Get("abc"); !ok {
		t.Fatal("add with the current version was refused")
	}
}

// fakeFeed is an app.ChangeFeed driven by the test: each ListenChanges
// call takes one connection from conns and delivers what is sent on it
// until it is closed (the connection dropping).
type fakeFeed struct {
	conns   chan chan feedMsg
	listens atomic.Int64
}

type feedMsg struct {
	seq  int64
	code string
}

func (f *fakeFeed) ListenChanges(ctx context.Context, listening func(), changed func(int64, string)) error {
	var conn chan feedMsg
	select {
	case conn = <-f.conns:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.listens.Add(1)
	listening()
	for {
		select {
		case m, ok := <-conn:
			if !ok {
				return errors.New("connection lost")
			}
			changed(m.seq, m.code)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestGuardedCacheFollowsAFeed: with notifications, a change drops only
// its link; a gap in the numbers (a lost notification) empties the cache;
// while the feed is down, the counter poll still catches a change; a failed
// poll keeps the entries when KeepOnError says so, and the first poll that
// works again empties the cache if the counter moved meanwhile.
func TestGuardedCacheFollowsAFeed(t *testing.T) { eachGuarded(t, testGuardedCacheFollowsAFeed) }

func testGuardedCacheFollowsAFeed(t *testing.T, c *app.GuardedCache) {
	var seq atomic.Int64
	var fail atomic.Bool
	var polls atomic.Int64
	src := changeFunc(func(context.Context) (int64, error) {
		polls.Add(1)
		if fail.Load() {
			return 0, errors.New("database restarting")
		}
		return seq.Load(), nil
	})
	feed := &fakeFeed{conns: make(chan chan feedMsg, 1)}
	conn := make(chan feedMsg)
	feed.conns <- conn
	var listening atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A long poll interval: in the first steps only the feed can act.
	interval := time.Hour
	done := make(chan struct{})
	go func() {
		c.WatchWith(ctx, src, app.WatchOptions{Interval: interval, Feed: feed, KeepOnError: true,
			OnFeed: func(up bool) { listening.Store(up) }})
		close(done)
	}()
	waitFor(t, "the feed listening and the first poll", func() bool { return listening.Load() && polls.Load() >= 1 })
	has := func(code string) bool { _, ok := c.Get(code); return ok }
	fill := func(codes ...string) {
		for _, k := range codes {
			c.Add(k, app.Target{URL: "https://example.com/" + k})
		}
	}

	fill("aaa", "bbb", "ccc")
	seq.Store(1)
	conn <- feedMsg{1, "aaa"}
	waitFor(t, "aaa dropped", func() bool { return !has("aaa") })
	if !has("bbb") || !has("ccc") {
		t.Fatal("a notification for aaa dropped other links")
	}

	seq.Store(3)
	conn <- feedMsg{3, "bbb"} // 2 never arrived
	waitFor(t, "a purge after a gap", func() bool { return !has("bbb") && !has("ccc") })

	// The connection drops; polling alone must catch a change.
	fill("ddd")
	before := polls.Load()
	close(conn)
	waitFor(t, "the feed down", func() bool { return !listening.Load() })
	seq.Store(4)
	// Reconnecting kicks a poll at once (changes while not listening were
	// not announced), which sees the counter moved.
	conn2 := make(chan feedMsg)
	feed.conns <- conn2
	waitFor(t, "a poll after reconnecting", func() bool { return polls.Load() > before && listening.Load() })
	waitFor(t, "ddd purged by the poll", func() bool { return !has("ddd") })

	cancel()
	<-done
}

// TestGuardedCacheKeepsEntriesWhileTheStoreIsUnreachable: with KeepOnError
// a failed poll keeps the entries (a restarting database deletes nothing);
// the first poll that works empties the cache only if the counter moved.
func TestGuardedCacheKeepsEntriesWhileTheStoreIsUnreachable(t *testing.T) {
	eachGuarded(t, testGuardedCacheKeepsEntriesWhileTheStoreIsUnreachable)
}

func testGuardedCacheKeepsEntriesWhileTheStoreIsUnreachable(t *testing.T, c *app.GuardedCache) {
	var seq atomic.Int64
	var fail atomic.Bool
	var polls, errs atomic.Int64
	src := changeFunc(func(context.Context) (int64, error) {
		polls.Add(1)
		if fail.Load() {
			return 0, errors.New("database restarting")
		}
		return seq.Load(), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.WatchWith(ctx, src, app.WatchOptions{Interval: 5 * time.Millisecond, KeepOnError: true, OnError: func(error) { errs.Add(1) }})
	waitFor(t, "the first poll", func() bool { return polls.Load() >= 1 })
	c.Add("abc", app.Target{URL: "https://example.com/abc"})
	fail.Store(true)
	n := errs.Load()
	waitFor(t, "three failed polls", func() bool { return errs.Load() >= n+3 })
	if _, ok := c.Get("abc"); !ok {
		t.Fatal("a failed poll emptied the cache despite KeepOnError")
	}
	fail.Store(false)
	p := polls.Load()
	waitFor(t, "two good polls", func() bool { return polls.Load() >= p+2 })
	if _, ok := c.Get("abc"); !ok {
		t.Fatal("the cache was emptied although the counter did not move during the outage")
	}
	fail.Store(true)
	seq.Add(1) // a change the store made while this process could not see it
	n = errs.Load()
	waitFor(t, "a failed poll", func() bool { return errs.Load() > n })
	fail.Store(false)
	waitFor(t, "purge once the store answers with a moved counter", func() bool { _, ok := c.Get("abc"); return !ok })
}
