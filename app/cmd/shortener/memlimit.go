package main

import (
	"context"
	"runtime/debug"
	"time"
)

// memoryHeadroomMiB is the soft memory limit above the redirect cache's
// size with --memory-limit-mib 0: the rest of the live heap (connections,
// the visit counts of a flush interval, the span queue) and the garbage
// made between two collections. 48 MiB put the peak RSS of a process
// caching 1M links at 156 MB in make bench; 32 MiB at 147 MB, with no
// measurable change in CPU per redirect (the cache holds no pointers, so
// a collection marks only the rest of the heap, about 15 MB).
const memoryHeadroomMiB = 32

// cacheSizer is the redirect cache as followCacheMemory sees it.
type cacheSizer interface{ Bytes() int64 }

// followCacheMemory keeps the Go soft memory limit memoryHeadroomMiB above
// the cache's size, checking every interval until ctx ends. A fixed limit
// would either be too small for a large cache (the collector would run
// without pause to stay under it) or leave a small one room to grow to
// GOGC=400 times its live heap.
func followCacheMemory(ctx context.Context, cache cacheSizer, interval time.Duration) {
	const step = 1 << 20 // changes smaller than this are not worth a call
	var last int64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		limit := memoryHeadroomMiB<<20 + cache.Bytes()
		if d := limit - last; d >= step || d <= -step {
			debug.SetMemoryLimit(limit)
			last = limit
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
