package gate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A rotated bearer token file is picked up on the next request, without a
// restart: long analyses outlive short-lived tokens.
func TestBearerTokenFileIsReloaded(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := DefaultConfig().Prometheus
	p.URL = srv.URL
	p.HTTP.BearerTokenFile = tokenFile
	c, err := newPromClient(p, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Vector(ctx, "up", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Vector(ctx, "up", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "Bearer first-token" || seen[1] != "Bearer second-token" {
		t.Errorf("Authorization headers %q, want the first then the rotated token", seen)
	}
}

// The environment's secrets go into the client's copy of the HTTP
// configuration, never into the Config (which the report is built from).
func TestEnvironmentSecretsStayOutOfTheConfig(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Prometheus.HeaderEnv = map[string]string{"X-Api-Key": "KEY"}
	env := map[string]string{EnvToken: "env-token", "KEY": "env-key"}
	h, err := cfg.Prometheus.httpConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if h.Authorization == nil || string(h.Authorization.Credentials) != "env-token" || len(h.HTTPHeaders.Headers["X-Api-Key"].Secrets) != 1 {
		t.Errorf("client config lacks the environment's secrets: %+v", h)
	}
	if cfg.Prometheus.HTTP.Authorization != nil || cfg.Prometheus.HTTP.HTTPHeaders != nil {
		t.Errorf("the Config was changed: %+v", cfg.Prometheus.HTTP)
	}
}
