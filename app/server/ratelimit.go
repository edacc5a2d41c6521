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

// RateLimiter limits link creation per client address with a token bucket
// each. The table of clients is bounded: when full, idle buckets are dropped.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	trusted []netip.Prefix
	max     int

	mu      sync.Mutex
	clients map[netip.Addr]*clientBucket
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter allows perSecond creations per client with bursts of burst.
// X-Forwarded-For is believed only when the peer is in trusted.
func NewRateLimiter(perSecond float64, burst int, trusted []netip.Prefix) *RateLimiter {
	return &RateLimiter{
		limit: rate.Limit(perSecond), burst: burst, trusted: trusted,
		max: 100_000, clients: map[netip.Addr]*clientBucket{},
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

func (l *RateLimiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address the limit applies to: the TCP peer, or, when the
// peer is a trusted proxy, the right-most untrusted X-Forwarded-For entry.
func (l *RateLimiter) ClientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !l.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !l.isTrusted(a) {
			return a
		}
	}
	return peer
}

func (l *RateLimiter) reserve(client netip.Addr, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= l.max {
			l.evict(now)
		}
		b = &clientBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
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
// of the table: memory stays bounded whatever the number of clients.
func (l *RateLimiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for a, b := range l.clients {
		if now.Sub(b.seen) > refill {
			delete(l.clients, a)
		}
	}
	if len(l.clients) < l.max {
		return
	}
	n := 0
	for a := range l.clients {
		delete(l.clients, a)
		if n++; n >= l.max/2 {
			break
		}
	}
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
		ok, wait := l.reserve(l.ClientAddr(r), now())
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			encode(w, http.StatusTooManyRequests, errorBody{Error: "too many links created from this address; retry after " + strconv.Itoa(secs) + " s"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
