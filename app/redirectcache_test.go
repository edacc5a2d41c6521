package app_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
)

func target(i int) app.Target {
	t := app.Target{URL: fmt.Sprintf("https://example.com/articles/%d", i)}
	switch i % 5 {
	case 1:
		t.Flags, t.ExpiresAt = app.TargetExpires, int64(1_700_000_000_000+i)
	case 2:
		t.Flags = app.TargetDeleted
	case 3:
		t.URL = "" // nothing forbids it in the cache
	}
	return t
}

// TestRedirectCacheAgreesWithAMap runs random adds, replaces, removes,
// gets and purges against the cache and a map; with room for everything,
// the two must agree after every step (nothing evicted, replaced values
// and compactions included).
func TestRedirectCacheAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := app.NewRedirectCache(100_000)
	model := map[string]app.Target{}
	code := func() string { return fmt.Sprintf("c%04d", rng.IntN(3000)) }
	for step := range 200_000 {
		switch op := rng.IntN(100); {
		case op < 45:
			k, tg := code(), target(rng.IntN(1_000_000))
			c.Add(k, tg)
			model[k] = tg
		case op < 55:
			k := code()
			_, want := model[k]
			if got := c.Remove(k); got != want {
				t.Fatalf("step %d: Remove(%s) = %v, want %v", step, k, got, want)
			}
			delete(model, k)
		case op < 99:
			k := code()
			got, ok := c.Get(k)
			want, wok := model[k]
			if ok != wok || got != want {
				t.Fatalf("step %d: Get(%s) = %+v %v, want %+v %v", step, k, got, ok, want, wok)
			}
		default:
			if rng.IntN(20) == 0 {
				c.Purge()
				clear(model)
			}
		}
	}
	if c.Len() != len(model) {
		t.Fatalf("Len %d, want %d", c.Len(), len(model))
	}
	for k, want := range model {
		if got, ok := c.Get(k); !ok || got != want {
			t.Fatalf("Get(%s) = %+v %v, want %+v", k, got, ok, want)
		}
	}
}

// TestRedirectCacheBoundAndSecondChance: a full cache evicts to stay
// within its size, and entries hit since the last sweep survive it.
func TestRedirectCacheBoundAndSecondChance(t *testing.T) {
	const size = 64 * 400 // 400 per shard
	c := app.NewRedirectCache(size)
	for i := range size {
		c.Add(fmt.Sprintf("old%05d", i), target(i))
	}
	if c.Len() > size {
		t.Fatalf("Len %d over the size %d", c.Len(), size)
	}
	// Every entry present now was added last and none was hit: hit a
	// tenth of them, then add as many new links as the cache holds.
	var hot []string
	for i := 0; i < size; i += 10 {
		k := fmt.Sprintf("old%05d", i)
		if _, ok := c.Get(k); ok {
			hot = append(hot, k)
		}
	}
	evicted := 0
	for i := range size / 2 {
		if c.Add(fmt.Sprintf("new%05d", i), target(i)) {
			evicted++
		}
		if c.Len() > size {
			t.Fatalf("Len %d over the size %d", c.Len(), size)
		}
	}
	if evicted == 0 {
		t.Fatal("adding to a full cache evicted nothing")
	}
	kept := 0
	for _, k := range hot {
		if _, ok := c.Get(k); ok {
			kept++
		}
	}
	// Half of the cold entries went; the hot ones had a second chance.
	if kept < len(hot)*9/10 {
		t.Errorf("%d of %d recently hit entries survived eviction, want nearly all", kept, len(hot))
	}
	if n := app.NewRedirectCache(0); n.Add("abc", target(1)) {
		t.Error("a cache of size 0 (taken as 1) evicted on its first add")
	}
}

// TestRedirectCacheStringsSurviveCompaction: URLs handed out point into
// the arena; replacing and removing entries until the arena is compacted
// must not change a string already handed out.
func TestRedirectCacheStringsSurviveCompaction(t *testing.T) {
	c := app.NewRedirectCache(2000) // 4 shards of 500: nothing evicted
	var got []string
	for i := range 1000 {
		k := fmt.Sprintf("k%04d", i)
		c.Add(k, app.Target{URL: "https://example.com/first/" + k})
		tg, _ := c.Get(k)
		got = append(got, tg.URL)
	}
	for round := range 20 {
		for i := range 1000 {
			k := fmt.Sprintf("k%04d", i)
			c.Add(k, app.Target{URL: fmt.Sprintf("https://example.com/round%d/%s/%s", round, k, strings.Repeat("x", round))})
		}
	}
	for i, u := range got {
		if want := fmt.Sprintf("https://example.com/first/k%04d", i); u != want {
			t.Fatalf("handed-out URL changed to %q, want %q", u, want)
		}
	}
	for i := range 1000 {
		k := fmt.Sprintf("k%04d", i)
		tg, ok := c.Get(k)
		if want := fmt.Sprintf("https://example.com/round19/%s/%s", k, strings.Repeat("x", 19)); !ok || tg.URL != want {
			t.Fatalf("Get(%s) = %q %v after compactions, want %q", k, tg.URL, ok, want)
		}
	}
	// 20 rounds of replacements wrote about 2 MB of entries; compaction
	// keeps each of the 4 shards' arenas within twice its live bytes or
	// 64 KiB, plus the chunk being filled, plus its index.
	if limit := int64(4 * (2*64<<10 + 1024*8)); c.Bytes() > limit {
		t.Errorf("cache holds %d bytes after replacements, want at most %d", c.Bytes(), limit)
	}
}

// TestRedirectCacheCompact: links of a 8-character code and a 35-byte URL
// (make bench's) take well under 100 bytes each, where a map of *Link
// took about 500 (200,000 here; a million take 67 bytes each).
func TestRedirectCacheCompact(t *testing.T) {
	const n = 200_000
	c := app.NewRedirectCache(n + n/10)
	for i := range n {
		c.Add(fmt.Sprintf("b%07d", i), app.Target{URL: fmt.Sprintf("https://example.com/articles/%06d", i)})
	}
	if c.Len() != n {
		t.Fatalf("Len %d, want %d", c.Len(), n)
	}
	per := float64(c.Bytes()) / n
	t.Logf("%d links in %.1f MB: %.1f bytes per link", n, float64(c.Bytes())/1e6, per)
	if per > 80 {
		t.Errorf("%.1f bytes per link, want at most 80", per)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		k := fmt.Sprintf("b%07d", i)
		if tg, ok := c.Get(k); !ok || tg.URL != fmt.Sprintf("https://example.com/articles/%06d", i) {
			t.Fatalf("Get(%s) = %+v %v", k, tg, ok)
		}
	}
}

// TestRedirectCacheGetDoesNotAllocate: a hit is free for the garbage
// collector.
func TestRedirectCacheGetDoesNotAllocate(t *testing.T) {
	c := app.NewRedirectCache(100)
	c.Add("abcdefg", target(1))
	if n := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Get("abcdefg"); !ok {
			t.Fatal("miss")
		}
		c.Get("missing")
	}); n != 0 {
		t.Errorf("Get allocates %v times per call", n)
	}
}

// TestRedirectCacheConcurrent: readers and writers on many goroutines
// (run with -race) see either nothing or a whole, correct target.
func TestRedirectCacheConcurrent(t *testing.T) {
	c := app.NewRedirectCache(2000)
	var wg sync.WaitGroup
	stop := time.Now().Add(300 * time.Millisecond)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for time.Now().Before(stop) {
				i := rng.IntN(4000)
				k := fmt.Sprintf("k%04d", i)
				switch rng.IntN(10) {
				case 0:
					c.Remove(k)
				case 1, 2:
					c.Add(k, app.Target{URL: "https://example.com/" + k})
				default:
					if tg, ok := c.Get(k); ok && tg.URL != "https://example.com/"+k {
						t.Errorf("Get(%s) = %q", k, tg.URL)
						return
					}
				}
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(stop) {
			time.Sleep(20 * time.Millisecond)
			c.Purge()
		}
	}()
	wg.Wait()
	if c.Len() > 2000 {
		t.Errorf("Len %d over the size", c.Len())
	}
}

// TestTargetState: the one rule of link states, for a link and for its
// cached target alike.
func TestTargetState(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	tests := []struct {
		name string
		link app.Link
		want app.LinkState
	}{
		{"live", app.Link{URL: "u"}, app.LinkLive},
		{"expires later", app.Link{URL: "u", ExpiresAt: at(time.Millisecond)}, app.LinkLive},
		{"expires now", app.Link{URL: "u", ExpiresAt: at(0)}, app.LinkExpired},
		{"expired", app.Link{URL: "u", ExpiresAt: at(-time.Hour)}, app.LinkExpired},
		{"deleted", app.Link{URL: "u", DeletedAt: at(-time.Hour)}, app.LinkDeleted},
		{"deleted and expired", app.Link{URL: "u", DeletedAt: at(-time.Hour), ExpiresAt: at(-time.Hour)}, app.LinkDeleted},
	}
	c := app.NewRedirectCache(10)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.link.State(now); got != tt.want {
				t.Errorf("Link.State = %v, want %v", got, tt.want)
			}
			c.Add("code", app.TargetOf(&tt.link))
			cached, _ := c.Get("code")
			if got := cached.State(now); got != tt.want || cached.URL != "u" {
				t.Errorf("cached target %+v: state %v, want %v", cached, got, tt.want)
			}
		})
	}
}
