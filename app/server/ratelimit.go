package server

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter limits link creation per client with a token bucket each. A
// client is an IPv4 address or an IPv6 /64: one IPv6 host usually holds a
// whole /64 and can pick any address in it, so limiting per address would
// limit nothing.
type RateLimiter struct {
	trusted []netip.Prefix
	clients *buckets[netip.Prefix]
}

// NewRateLimiter allows perSecond creations per client with bursts of burst.
// X-Forwarded-For is believed only when the peer is in trusted.
func NewRateLimiter(perSecond float64, burst int, trusted []netip.Prefix) *RateLimiter {
	return &RateLimiter{trusted: trusted, clients: newBuckets[netip.Prefix](perSecond, burst)}
}

// buckets is a bounded table of token buckets by key: when full, idle
// buckets are dropped (or, if none is idle, half of the table), so memory
// stays bounded whatever the number of keys.
type buckets[K comparable] struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[K]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newBuckets[K comparable](perSecond float64, burst int) *buckets[K] {
	return &buckets[K]{limit: rate.Limit(perSecond), burst: burst, max: 100_000, m: map[K]*bucket{}}
}

// take takes a token for key at now, or says how long to wait for one.
func (b *buckets[K]) take(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.m[key]
	if bk == nil {
		if len(b.m) >= b.max {
			b.evict(now)
		}
		bk = &bucket{lim: rate.NewLimiter(b.limit, b.burst)}
		b.m[key] = bk
	}
	bk.seen = now
	res := bk.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets idle long enough to be full again, or, if none, half
// of the table.
func (b *buckets[K]) evict(now time.Time) {
	refill := time.Duration(float64(b.burst) / float64(b.limit) * float64(time.Second))
	for k, bk := range b.m {
		if now.Sub(bk.seen) > refill {
			delete(b.m, k)
		}
	}
	if len(b.m) < b.max {
		return
	}
	n := 0
	for k := range b.m {
		delete(b.m, k)
		if n++; n >= b.max/2 {
			break
		}
	}
}

// ParseTrustedProxies parses a comma-separated list of IPs or CIDRs.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address the limit applies to: the TCP peer, or, when the
// peer is a trusted proxy, the right-most untrusted X-Forwarded-For entry.
func (l *RateLimiter) ClientAddr(r *http.Request) netip.Addr { return clientAddr(r, l.trusted) }

func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !isTrusted(trusted, peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !isTrusted(trusted, a) {
			return a
		}
	}
	return peer
}

// ClientPrefix is the network one client is limited as: its IPv4 address,
// or the /64 of its IPv6 address (zone dropped). An unparsable peer is the
// zero prefix: all such requests share one bucket.
func ClientPrefix(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}

// middleware answers 429 with Retry-After when the client is over its limit,
// reading time from now. A nil limiter lets everything through.
func (l *RateLimiter) middleware(now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if l == nil {
			return next
		}
		return l.handler(next, now)
	}
}

func (l *RateLimiter) handler(next http.Handler, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.clients.take(ClientPrefix(l.ClientAddr(r)), now())
		if !ok {
			secs := retrySeconds(wait)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			encode(w, http.StatusTooManyRequests, errorBody{Error: "too many links created from this address; retry after " + strconv.Itoa(secs) + " s"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// retrySeconds is a wait as whole seconds for Retry-After (at least 1).
func retrySeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// Password guesses per client (IPv4 address or IPv6 /64) and per link:
// a burst, then a steady rate. A person mistyping gets several tries at
// once; a guesser gets 10 a minute from one network and 20 a minute at one
// link from everywhere together, and Argon2id makes each guess cost the
// server a bounded, known amount (app.PasswordWorkers at a time).
const (
	guessBurstClient = 10
	guessPerClient   = 1.0 / 6 // per second: 10 a minute
	guessBurstLink   = 20
	guessPerLink     = 1.0 / 3 // 20 a minute
)

// GuessLimiter limits password guesses per client and per link.
type GuessLimiter struct {
	trusted []netip.Prefix
	clients *buckets[netip.Prefix]
	links   *buckets[string]
}

// NewGuessLimiter returns the limiter of password guesses; trusted are the
// proxies whose X-Forwarded-For is believed (as for RateLimiter).
func NewGuessLimiter(trusted []netip.Prefix) *GuessLimiter {
	return &GuessLimiter{
		trusted: trusted,
		clients: newBuckets[netip.Prefix](guessPerClient, guessBurstClient),
		links:   newBuckets[string](guessPerLink, guessBurstLink),
	}
}

// take takes one guess at code for the request's client, or says how long
// to wait and which limit was hit.
func (g *GuessLimiter) take(r *http.Request, code string, now time.Time) (ok bool, wait time.Duration, perLink bool) {
	if ok, wait := g.clients.take(ClientPrefix(clientAddr(r, g.trusted)), now); !ok {
		return false, wait, false
	}
	if ok, wait := g.links.take(code, now); !ok {
		return false, wait, true
	}
	return true, 0, false
}
