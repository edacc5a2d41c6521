package server_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/server"
)

func TestClientPrefix(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"203.0.113.9", "203.0.113.9/32"},
		{"::ffff:203.0.113.9", "203.0.113.9/32"}, // IPv4-mapped counts as IPv4
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"}, // the zone does not make a new client
		{"::1", "::/64"},
	} {
		if got := server.ClientPrefix(netip.MustParseAddr(tt.addr)); got != netip.MustParsePrefix(tt.want) {
			t.Errorf("ClientPrefix(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := server.ClientPrefix(netip.Addr{}); got.IsValid() {
		t.Errorf("an unparsable peer gives %s", got)
	}
}

// TestCreationLimitPerIPv6Network: addresses of one /64 share the creation
// limit; another /64 has its own.
func TestCreationLimitPerIPv6Network(t *testing.T) {
	clock := mock.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) // no token comes back
	proxies, _ := server.ParseTrustedProxies("127.0.0.1")
	ts := secServer(t, func(d *server.Deps) { d.Limiter = server.NewRateLimiter(0.1, 2, proxies); d.Now = clock.Now })
	create := func(client string) int {
		resp, _ := secDo(t, "POST", ts.URL+"/api/v1/links", `{"url":"https://example.com/x"}`, "X-Forwarded-For", client)
		return resp.StatusCode
	}
	for i, c := range []string{"2001:db8:aa:1::1", "2001:db8:aa:1::2"} {
		if got := create(c); got != http.StatusCreated {
			t.Fatalf("create %d from %s: %d", i, c, got)
		}
	}
	if got := create("2001:db8:aa:1:ffff:ffff:ffff:ffff"); got != http.StatusTooManyRequests {
		t.Fatalf("a third address of the same /64: %d, want 429", got)
	}
	if got := create("2001:db8:aa:2::1"); got != http.StatusCreated {
		t.Fatalf("the next /64: %d, want 201", got)
	}
}
