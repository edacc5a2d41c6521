package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/telemetry"
)

// readyzBody is the JSON of /readyz.
type readyzBody struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Store  *struct {
		Writable       bool       `json:"writable"`
		WriteError     string     `json:"write_error"`
		WriteCheckedAt *time.Time `json:"write_checked_at"`
	} `json:"store"`
}

func getReadyz(t *testing.T, base string) (int, readyzBody) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body readyzBody
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s/readyz: body %q is not JSON: %v", base, b, err)
	}
	return resp.StatusCode, body
}

// gaugeValue reads a gauge without labels from the registry the admin
// listener serves.
func gaugeValue(t *testing.T, d server.Deps, name string) float64 {
	t.Helper()
	mfs, err := d.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && mf.GetType() == dto.MetricType_GAUGE && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("gauge %s not exported", name)
	return 0
}

type proberFunc func(context.Context) error

func (f proberFunc) ProbeWrite(ctx context.Context) error { return f(ctx) }

// TestReadyzStaysReadyWhenStoreRefusesWrites: a database that refuses writes
// (full disk, read-only file) still serves redirects, so both listeners stay
// ready; the gauge and the admin detail say the store is not writable, and
// say so no longer once writes work again.
func TestReadyzStaysReadyWhenStoreRefusesWrites(t *testing.T) {
	var refuse atomic.Bool
	var health *app.StoreHealth
	ts := newTestServer(t, func(d *server.Deps) {
		prober := proberFunc(func(context.Context) error {
			if refuse.Load() {
				return fmt.Errorf("database not writable: %s", app.ErrorMessage(app.Errorf(app.EUNAVAILABLE, "the disk is full; links cannot be created right now")))
			}
			return nil
		})
		health = app.NewStoreHealth(d.Service.Store, prober, app.StoreHealthOptions{Now: d.Service.Now, OnWriteStatus: d.Metrics.SetStoreWritable})
		d.Health = &server.Health{Store: health}
	})
	code := ts.create(t, `{"url":"https://example.com/still-works"}`)["code"].(string)

	health.ProbeWrite(context.Background())
	if got := gaugeValue(t, ts.deps, telemetry.MetricStoreWritable); got != 1 {
		t.Fatalf("%s = %v after a probe that wrote, want 1", telemetry.MetricStoreWritable, got)
	}
	refuse.Store(true)
	health.ProbeWrite(context.Background())
	if got := gaugeValue(t, ts.deps, telemetry.MetricStoreWritable); got != 0 {
		t.Fatalf("%s = %v after a refused write, want 0", telemetry.MetricStoreWritable, got)
	}
	status, body := getReadyz(t, ts.URL)
	if status != http.StatusOK || body.Store != nil {
		t.Fatalf("public /readyz with writes refused: %d %+v, want 200 without store detail", status, body)
	}
	status, body = getReadyz(t, ts.admin.URL)
	if status != http.StatusOK || body.Store == nil || body.Store.Writable || !strings.Contains(body.Store.WriteError, "disk is full") || body.Store.WriteCheckedAt == nil {
		t.Fatalf("admin /readyz with writes refused: %d %+v, want 200 saying the store is not writable and why", status, body.Store)
	}
	if resp, _ := ts.do(t, "GET", "/"+code, ""); resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect with writes refused: %d, want 302", resp.StatusCode)
	}

	refuse.Store(false)
	health.ProbeWrite(context.Background())
	status, body = getReadyz(t, ts.admin.URL)
	if status != http.StatusOK || body.Store == nil || !body.Store.Writable || body.Store.WriteError != "" {
		t.Fatalf("admin /readyz after writes recovered: %d %+v, want writable", status, body.Store)
	}
	if got := gaugeValue(t, ts.deps, telemetry.MetricStoreWritable); got != 1 {
		t.Fatalf("%s = %v after writes recovered, want 1", telemetry.MetricStoreWritable, got)
	}
}

// countingStore counts readiness checks that reach the store.
type countingStore struct {
	app.LinkStore
	ready atomic.Int64
}

func (s *countingStore) Ready(ctx context.Context) error {
	s.ready.Add(1)
	return s.LinkStore.Ready(ctx)
}

// TestPublicReadyzCostsOneStoreCheckPerInterval: however many anonymous
// /readyz calls arrive, at once or in a row, the store is checked at most
// once per interval; the next interval checks again.
func TestPublicReadyzCostsOneStoreCheckPerInterval(t *testing.T) {
	var counting *countingStore
	const ttl = time.Second
	ts := newTestServer(t, func(d *server.Deps) {
		counting = &countingStore{LinkStore: d.Service.Store}
		d.Health = &server.Health{Store: app.NewStoreHealth(counting, nil, app.StoreHealthOptions{ReadyTTL: ttl, Now: d.Service.Now})}
	})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Go(func() {
			resp, err := http.Get(ts.URL + "/readyz")
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of 50 /readyz calls did not answer 200", failed.Load())
	}
	if n := counting.ready.Load(); n != 1 {
		t.Fatalf("50 /readyz calls in one interval made %d store checks, want 1", n)
	}
	ts.clock.Advance(ttl - time.Millisecond)
	getReadyz(t, ts.URL)
	if n := counting.ready.Load(); n != 1 {
		t.Fatalf("a call within the interval made a store check (%d in all)", n)
	}
	ts.clock.Advance(time.Millisecond)
	for range 10 {
		getReadyz(t, ts.URL)
	}
	if n := counting.ready.Load(); n != 2 {
		t.Fatalf("after the interval: %d store checks, want 2", n)
	}
}

func TestReadyzReasonOnlyOnAdmin(t *testing.T) {
	ts := newTestServer(t, func(d *server.Deps) {
		broken := &mock.LinkStore{ReadyFn: func(context.Context) error {
			return errors.New("database not readable: SQL logic error: no such table: schema_migrations")
		}}
		d.Health = &server.Health{Store: app.NewStoreHealth(broken, nil, app.StoreHealthOptions{})}
	})
	status, body := getReadyz(t, ts.admin.URL)
	if status != 503 || !strings.Contains(body.Reason, "no such table") {
		t.Fatalf("admin readyz: %d %+v, want 503 with the reason", status, body)
	}
	status, body = getReadyz(t, ts.URL)
	if status != 503 || strings.Contains(body.Reason, "SQL") || !strings.Contains(body.Reason, "admin listener") {
		t.Fatalf("public readyz: %d %+v, want 503 without driver text", status, body)
	}
}
