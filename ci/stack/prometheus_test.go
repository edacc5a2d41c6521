package stack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

// Query goes through the shared client: labels and values come back, and
// a refused query names itself.
func TestQuery(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("query") == "bad(" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"unexpected end of input"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"track":"stable"},"value":[1,"2.5"]}]}}`))
	}))
	defer srv.Close()
	c := Config{PrometheusAddr: strings.TrimPrefix(srv.URL, "http://")}
	got, err := c.Query(context.Background(), "up")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Labels["track"] != "stable" || got[0].Value != 2.5 {
		t.Errorf("got %+v", got)
	}
	if _, err := c.Query(context.Background(), "bad("); err == nil || !strings.Contains(err.Error(), `"bad("`) {
		t.Errorf("want an error naming the query, got %v", err)
	}
}

// A Prometheus that accepts connections and never answers must not hang
// the pipeline: each query gives up after queryTimeout.
func TestQueryHasADeadline(t *testing.T) {
	t.Parallel()
	c := Config{PrometheusAddr: testenv.SilentServer(t)}
	start := time.Now()
	if _, err := c.Query(context.Background(), "up"); err == nil {
		t.Fatal("a silent Prometheus answered")
	}
	if d := time.Since(start); d > queryTimeout+2*time.Second {
		t.Errorf("query took %s, want at most about %s", d, queryTimeout)
	}
}
