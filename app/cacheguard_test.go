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
	m  map[string]*app.Link
}

func (c *purgeableMap) Get(k string) (*app.Link, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[k]
	return l, ok
}

func (c *purgeableMap) Add(k string, l *app.Link) bool {
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
	c := app.NewGuardedCache(&purgeableMap{m: map[string]*app.Link{}})
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

	c.Add("abc", &app.Link{Code: "abc"})
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

	c.Add("abc", &app.Link{Code: "abc"})
	fail.Store(true)
	waitFor(t, "purge after a failed poll", func() bool { _, ok := c.Get("abc"); return !ok && errs.Load() > 0 })
}

func TestGuardedCacheRefusesAddAcrossPurge(t *testing.T) {
	c := app.NewGuardedCache(&purgeableMap{m: map[string]*app.Link{}})
	v := c.Version()
	c.Purge() // a delete elsewhere was noticed while the store read ran
	c.AddIfVersion(v, "abc", &app.Link{Code: "abc"})
	if _, ok := c.Get("abc"); ok {
		t.Fatal("a link read before the purge was cached after it")
	}
	c.AddIfVersion(c.Version(), "abc", &app.Link{Code: "abc"})
	if _, ok := c.Get("abc"); !ok {
		t.Fatal("add with the current version was refused")
	}
}
