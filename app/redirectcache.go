package app

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// RedirectCache maps codes to Targets for up to a fixed number of links in
// little memory: each link is one record in an append-only arena of bytes
// (flags, lengths, expiry if any, code, URL) plus one 8-byte slot of an
// open-addressing index, about 25 bytes besides the code and the URL (a
// link of a 7-character code and a 35-byte URL takes about 70 bytes; a
// *Link in a map or an LRU took about 500). Neither the arena nor the index
// holds a pointer, so the garbage collector never scans them, however many
// links are cached.
//
// Get allocates nothing: the URL it returns points into the arena, whose
// bytes are never written again once an entry is added (a replaced or
// removed entry leaves its bytes in place until a compaction copies the
// live entries into new chunks; the old chunks live on while such a string
// is in use).
//
// The cache is split in shards, each with its own lock, so concurrent
// redirects on many cores rarely wait for each other. When a shard is full,
// the entry to evict is chosen by CLOCK (second chance): every hit sets the
// entry's reference bit, and the sweep evicts the first entry whose bit is
// clear, clearing the bits it passes. A recently used link survives a sweep.
type RedirectCache struct {
	seed      maphash.Seed
	shardBits uint // the top shardBits bits of a code's hash pick its shard
	shards    [cacheShards]cacheShard
	bytes     atomic.Int64 // arena chunks and indexes, in bytes
}

const (
	cacheShards = 64
	// minShardSize is the fewest links per shard: a small cache has fewer
	// shards, so that an unlucky spread of codes over them does not evict
	// while the cache as a whole has room.
	minShardSize = 256

	// Entries are referred to as chunk<<chunkOffsetBits | offset. Chunks
	// grow from minChunkBytes to chunkBytes (doubling, so a small shard
	// stays small); an entry larger than that gets a chunk of its own.
	chunkOffsetBits = 20
	maxChunkBytes   = 1 << chunkOffsetBits
	maxChunks       = 1 << (32 - chunkOffsetBits)
	minChunkBytes   = 1 << 10
	chunkBytes      = 16 << 10

	// An index slot: the entry's reference (low 32 bits), 30 bits of the
	// code's hash (a cheap filter before the record is read, and the home
	// slot when entries move), occupied, and the CLOCK reference bit.
	slotHashShift = 32
	slotHashMask  = 1<<30 - 1
	slotOccupied  = 1 << 62
	slotRef       = 1 << 63

	entryHeader = 4 // flags, code length, URL length (2 bytes)
	maxCodeLen  = 255
	maxURLLen   = 1<<16 - 1
)

// cacheShard is one lock's share of the cache, padded so that the locks
// of neighbouring shards do not share a cache line.
type cacheShard struct {
	shardState
	_ [128 - unsafe.Sizeof(shardState{})%128]byte
}

type shardState struct {
	mu       sync.RWMutex
	slots    []uint64 // len a power of two, or nil while empty
	chunks   arena
	count    int // entries
	capacity int // most entries this shard holds
	live     int // bytes of the entries in use
	used     int // bytes appended (live and replaced or removed)
	hand     int // CLOCK hand over slots
	arena    int // bytes of the chunks' capacity
	reported int // this shard's share of RedirectCache.bytes
}

// NewRedirectCache returns a cache of up to size links (at least 1).
func NewRedirectCache(size int) *RedirectCache {
	c := &RedirectCache{seed: maphash.MakeSeed()}
	size = max(size, 1)
	for 1<<(c.shardBits+1) <= cacheShards && size>>(c.shardBits+1) >= minShardSize {
		c.shardBits++
	}
	n := 1 << c.shardBits
	for i := range n {
		c.shards[i].capacity = size / n
		if i < size%n {
			c.shards[i].capacity++
		}
	}
	return c
}

var _ PurgeableCache = (*RedirectCache)(nil)

func (c *RedirectCache) shard(h uint64) *cacheShard {
	if c.shardBits == 0 {
		return &c.shards[0]
	}
	return &c.shards[h>>(64-c.shardBits)]
}

// Get returns the target cached for code.
func (c *RedirectCache) Get(code string) (Target, bool) {
	h := maphash.String(c.seed, code)
	s := c.shard(h)
	s.mu.RLock()
	t, ok := s.get(code, h)
	s.mu.RUnlock()
	return t, ok
}

func (s *shardState) get(code string, h uint64) (Target, bool) {
	i, ok := s.find(code, h)
	if !ok {
		return Target{}, false
	}
	slot := &s.slots[i]
	// Readers share the read lock: the reference bit is set atomically,
	// and only when it is not set yet (no write per hit).
	if v := atomic.LoadUint64(slot); v&slotRef == 0 {
		atomic.OrUint64(slot, slotRef)
	}
	return s.chunks.target(uint32(atomic.LoadUint64(slot))), true
}

// find returns the slot holding code. Slots are read atomically: readers
// set reference bits while other readers probe.
func (s *shardState) find(code string, h uint64) (int, bool) {
	if s.slots == nil {
		return 0, false
	}
	mask := len(s.slots) - 1
	want := (h&slotHashMask)<<slotHashShift | slotOccupied
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := atomic.LoadUint64(&s.slots[i])
		if v == 0 {
			return 0, false
		}
		if v&^slotRef&^(1<<slotHashShift-1) == want && s.chunks.code(uint32(v)) == code {
			return i, true
		}
	}
}

// arena holds the entries in chunks of bytes; only the last chunk grows.
type arena [][]byte

// record returns the bytes of the entry at ref, from its header on.
func (a arena) record(ref uint32) []byte {
	return a[ref>>chunkOffsetBits][ref&(maxChunkBytes-1):]
}

func (a arena) code(ref uint32) string {
	e := a.record(ref)
	start := entryHeader + expiryLen(TargetFlags(e[0]))
	return unsafe.String(&e[start], int(e[1]))
}

func (a arena) target(ref uint32) Target {
	e := a.record(ref)
	flags := TargetFlags(e[0])
	t := Target{Flags: flags}
	start := entryHeader
	if flags&TargetExpires != 0 {
		t.ExpiresAt = int64(binary.LittleEndian.Uint64(e[start:]))
		start += 8
	}
	start += int(e[1])
	if n := int(binary.LittleEndian.Uint16(e[2:])); n > 0 {
		t.URL = unsafe.String(&e[start], n)
	}
	return t
}

func expiryLen(f TargetFlags) int {
	if f&TargetExpires != 0 {
		return 8
	}
	return 0
}

func entrySize(code string, t Target) int {
	return entryHeader + expiryLen(t.Flags) + len(code) + len(t.URL)
}

// Add caches t for code, replacing what was cached for it. It reports
// whether another entry was evicted to make room. A code or URL too long
// for a record is not cached (and an older entry for it is removed).
func (c *RedirectCache) Add(code string, t Target) bool {
	h := maphash.String(c.seed, code)
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer c.account(&s.shardState)
	if len(code) == 0 || len(code) > maxCodeLen || len(t.URL) > maxURLLen || s.capacity == 0 {
		if i, ok := s.find(code, h); ok {
			s.removeAt(i)
		}
		return false
	}
	if i, ok := s.find(code, h); ok {
		v := s.slots[i]
		old := s.chunks.target(uint32(v))
		if old == t {
			return false
		}
		ref, ok := s.appendEntry(code, t)
		if !ok {
			s.removeAt(i)
			return false
		}
		s.live -= entrySize(code, old)
		s.slots[i] = v&^(1<<slotHashShift-1) | uint64(ref)
		s.compactIfSparse()
		return false
	}
	evicted := false
	if s.count >= s.capacity {
		s.evict()
		evicted = true
	}
	if s.slots == nil || (s.count+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	ref, ok := s.appendEntry(code, t)
	if !ok {
		return evicted
	}
	mask := len(s.slots) - 1
	i := int(h) & mask
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = (h&slotHashMask)<<slotHashShift | slotOccupied | uint64(ref)
	s.count++
	s.compactIfSparse()
	return evicted
}

// appendEntry writes an entry at the end of the arena and returns its
// reference; false when the arena cannot address more chunks.
func (s *shardState) appendEntry(code string, t Target) (uint32, bool) {
	n := entrySize(code, t)
	last := len(s.chunks) - 1
	if last < 0 || len(s.chunks[last])+n > cap(s.chunks[last]) {
		if len(s.chunks) == maxChunks {
			return 0, false
		}
		size := minChunkBytes
		if last >= 0 {
			size = min(2*cap(s.chunks[last]), chunkBytes)
		}
		s.chunks = append(s.chunks, make([]byte, 0, max(size, n)))
		s.arena += cap(s.chunks[last+1])
		last++
	}
	chunk := s.chunks[last]
	off := len(chunk)
	chunk = append(chunk, byte(t.Flags), byte(len(code)), 0, 0)
	binary.LittleEndian.PutUint16(chunk[off+2:], uint16(len(t.URL)))
	if t.Flags&TargetExpires != 0 {
		chunk = binary.LittleEndian.AppendUint64(chunk, uint64(t.ExpiresAt))
	}
	chunk = append(chunk, code...)
	chunk = append(chunk, t.URL...)
	s.chunks[last] = chunk
	s.live += n
	s.used += n
	return uint32(last)<<chunkOffsetBits | uint32(off), true
}

// grow doubles the index (or makes the first one) and re-inserts every
// entry at its home slot.
func (s *shardState) grow() {
	old := s.slots
	s.slots = make([]uint64, max(8, 2*len(old)))
	mask := len(s.slots) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := int(v>>slotHashShift) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = v
	}
	s.hand = 0
}

// evict removes one entry, chosen by CLOCK. The shard is not empty.
func (s *shardState) evict() {
	mask := len(s.slots) - 1
	for {
		s.hand &= mask
		v := s.slots[s.hand]
		switch {
		case v == 0:
			s.hand++
		case v&slotRef != 0:
			s.slots[s.hand] = v &^ slotRef // a second chance
			s.hand++
		default:
			s.removeAt(s.hand)
			return
		}
	}
}

// removeAt empties slot i and moves later entries of its probe run back,
// so that no lookup stops early at the hole (backward-shift deletion).
func (s *shardState) removeAt(i int) {
	v := s.slots[i]
	s.live -= entrySize(s.chunks.code(uint32(v)), s.chunks.target(uint32(v)))
	s.count--
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		home := int(s.slots[j]>>slotHashShift) & mask
		// The entry at j may move to the hole at i unless its home slot
		// lies cyclically in (i, j].
		if i <= j && i < home && home <= j || i > j && (i < home || home <= j) {
			continue
		}
		s.slots[i] = s.slots[j]
		i = j
	}
	s.slots[i] = 0
}

// compactIfSparse copies the live entries into fresh chunks once replaced
// and removed entries take more room than live ones: the arena stays
// within twice the live bytes. The old chunks are left to the garbage
// collector, so strings handed out by Get stay valid.
func (s *shardState) compactIfSparse() {
	if s.used-s.live <= s.live || s.used < 64<<10 {
		return
	}
	old := s.chunks
	s.chunks, s.live, s.used, s.arena = nil, 0, 0, 0
	for i, v := range s.slots {
		if v == 0 {
			continue
		}
		ref := uint32(v)
		nref, _ := s.appendEntry(old.code(ref), old.target(ref)) // fewer chunks than before: always fits
		s.slots[i] = v&^(1<<slotHashShift-1) | uint64(nref)
	}
}

// Remove drops code from the cache and reports whether it was there.
func (c *RedirectCache) Remove(code string) bool {
	h := maphash.String(c.seed, code)
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer c.account(&s.shardState)
	i, ok := s.find(code, h)
	if ok {
		s.removeAt(i)
	}
	return ok
}

// Purge empties the cache and gives its memory back.
func (c *RedirectCache) Purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.slots, s.chunks = nil, nil
		s.count, s.live, s.used, s.hand, s.arena = 0, 0, 0, 0, 0
		c.account(&s.shardState)
		s.mu.Unlock()
	}
}

// account updates the cache's byte count after a change to shard s (its
// lock held).
func (c *RedirectCache) account(s *shardState) {
	n := 8*cap(s.slots) + s.arena
	if n != s.reported {
		c.bytes.Add(int64(n - s.reported))
		s.reported = n
	}
}

// Len returns the number of cached links.
func (c *RedirectCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += s.count
		s.mu.RUnlock()
	}
	return n
}

// Bytes returns the memory the cache holds (arena and index), in bytes.
func (c *RedirectCache) Bytes() int64 { return c.bytes.Load() }
