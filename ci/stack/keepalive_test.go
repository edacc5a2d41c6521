package stack

import (
	"regexp"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
)

// The replay's users (internal/loadgen) must drop an idle connection before
// HAProxy does: a request sent on a connection the proxy is closing at that
// instant fails with EOF, and a POST is not retried, so the replay would
// count a failed user request that no release caused.
func TestLoadDropsIdleConnectionsBeforeTheProxy(t *testing.T) {
	b, err := templates.ReadFile("templates/haproxy.cfg.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*timeout\s+http-keep-alive\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("haproxy.cfg.tmpl sets no `timeout http-keep-alive`")
	}
	proxy, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatalf("timeout http-keep-alive %q: %v", m[1], err)
	}
	if loadgen.IdleConnTimeout*2 > proxy {
		t.Errorf("load keeps idle connections %s, HAProxy %s: the load's must be at most half the proxy's", loadgen.IdleConnTimeout, proxy)
	}
}
