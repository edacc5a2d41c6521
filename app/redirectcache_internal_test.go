package app

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// TestRedirectCacheHashCollisions: codes whose hashes agree in every bit
// the index keeps (the 30-bit filter and so the home slot) are told apart
// by their bytes: each gets its own target, and removing or replacing one
// leaves the others as they were.
func TestRedirectCacheHashCollisions(t *testing.T) {
	c := NewRedirectCache(100) // one shard: the shard bits cannot differ
	if c.shardBits != 0 {
		t.Fatalf("a cache of 100 has %d shard bits, want 0", c.shardBits)
	}
	// Birthday search: about 40k codes give a pair sharing 30 bits. A
	// third code shares only the low 8 bits (the home slot while the index
	// is small), so that all three sit in one probe run.
	seen := map[uint64]string{}
	var codes []string
	for i := 0; len(codes) < 2 && i < 1<<21; i++ {
		k := fmt.Sprintf("c%07d", i)
		h := maphash.String(c.seed, k) & slotHashMask
		if other, ok := seen[h]; ok {
			codes = append(codes, other, k)
		}
		seen[h] = k
	}
	if len(codes) < 2 {
		t.Fatal("no two codes with the same 30-bit hash in 2M tries")
	}
	h0 := maphash.String(c.seed, codes[0])
	for i := 0; len(codes) < 3; i++ {
		k := fmt.Sprintf("d%07d", i)
		if h := maphash.String(c.seed, k); h&0xff == h0&0xff && h&slotHashMask != h0&slotHashMask {
			codes = append(codes, k)
		}
	}
	url := func(k string, n int) string { return fmt.Sprintf("https://example.com/%s/%d", k, n) }
	check := func(want map[string]string) {
		t.Helper()
		for _, k := range codes {
			got, ok := c.Get(k)
			if w, wok := want[k]; ok != wok || got.URL != w {
				t.Fatalf("Get(%s) = %q %v, want %q %v", k, got.URL, ok, w, wok)
			}
		}
	}
	want := map[string]string{}
	for _, k := range codes {
		c.Add(k, Target{URL: url(k, 1)})
		want[k] = url(k, 1)
	}
	check(want)
	c.Add(codes[1], Target{URL: url(codes[1], 2)})
	want[codes[1]] = url(codes[1], 2)
	check(want)
	if !c.Remove(codes[0]) {
		t.Fatalf("Remove(%s) found nothing", codes[0])
	}
	delete(want, codes[0])
	check(want)
	if c.Remove(codes[0]) {
		t.Fatalf("Remove(%s) twice found it twice", codes[0])
	}
	// Fill up to the size, so that the colliding codes are moved by index
	// growth and may be evicted: whatever remains must still be right.
	for i := range 200 {
		k := fmt.Sprintf("f%04d", i)
		c.Add(k, Target{URL: url(k, 0)})
	}
	for _, k := range codes {
		if got, ok := c.Get(k); ok && got.URL != want[k] {
			t.Fatalf("after growth and eviction Get(%s) = %q, want %q", k, got.URL, want[k])
		}
	}
	if c.Len() > 100 {
		t.Fatalf("Len %d over the size 100", c.Len())
	}
}
