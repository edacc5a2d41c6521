package promclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/obsshort/shortener/internal/testenv"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// fakeAPI answers /api/v1/query with a fixed body and status, counting calls.
type fakeAPI struct {
	status int
	body   string
	calls  atomic.Int32
	auth   atomic.Value // last Authorization header
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	f.auth.Store(r.Header.Get("Authorization"))
	switch r.URL.Path {
	case "/-/ready":
		w.WriteHeader(f.status)
		return
	case "/api/v1/targets":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"activeTargets":[{"labels":{"job":"a"},"health":"up"},{"labels":{"job":"b"},"health":"down"}],"droppedTargets":[]}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	fmt.Fprint(w, f.body)
}

func newFake(t *testing.T, status int, body string) (*fakeAPI, string) {
	t.Helper()
	f := &fakeAPI{status: status, body: body}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func mustNew(t *testing.T, url string, o promclient.Options) *promclient.Client {
	t.Helper()
	c, err := promclient.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestVectorAndScalar(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		want    model.Vector
		badType bool
	}{
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"track":"canary"},"value":[1700000000,"3"]}]}}`,
			model.Vector{{Metric: model.Metric{"track": "canary"}, Value: 3, Timestamp: 1700000000000}}, false},
		{"empty vector", `{"status":"success","data":{"resultType":"vector","result":[]}}`, model.Vector{}, false},
		{"scalar is a one-sample vector", `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.25"]}}`,
			model.Vector{{Value: 0.25, Timestamp: 1700000000000}}, false},
		{"matrix is refused", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, url := newFake(t, 200, c.body)
			got, err := mustNew(t, url, promclient.Options{}).Vector(context.Background(), "q", time.Time{})
			if c.badType {
				if !errors.Is(err, promclient.ErrBadQuery) || !strings.Contains(err.Error(), `query "q"`) {
					t.Errorf("want ErrBadQuery naming the query, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if !got[i].Equal(c.want[i]) {
					t.Errorf("sample %d: got %v, want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestQueryRange(t *testing.T) {
	t.Parallel()
	_, url := newFake(t, 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"track":"stable"},"values":[[1700000000,"1"],[1700000015,"2.5"]]}]}}`)
	r := v1.Range{Start: time.Unix(1700000000, 0), End: time.Unix(1700000015, 0), Step: 15 * time.Second}
	m, err := mustNew(t, url, promclient.Options{}).QueryRange(context.Background(), "up", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Metric["track"] != "stable" || len(m[0].Values) != 2 || m[0].Values[1].Value != 2.5 {
		t.Errorf("got %v", m)
	}
	_, url = newFake(t, 400, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
	if _, err := mustNew(t, url, promclient.Options{Retries: 3}).QueryRange(context.Background(), "up[", r); !errors.Is(err, promclient.ErrBadQuery) || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("refused range query: %v", err)
	}
}

func TestScalar(t *testing.T) {
	t.Parallel()
	_, url := newFake(t, 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"42"]}]}}`)
	v, err := mustNew(t, url, promclient.Options{}).Scalar(context.Background(), "sum(x)", time.Time{})
	if err != nil || v != 42 {
		t.Errorf("got %v, %v; want 42", v, err)
	}
	_, url = newFake(t, 200, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	if _, err := mustNew(t, url, promclient.Options{}).Scalar(context.Background(), "sum(x)", time.Time{}); err == nil || !strings.Contains(err.Error(), `query "sum(x)"`) {
		t.Errorf("empty answer: want an error naming the query, got %v", err)
	}
}

// A query Prometheus refuses (bad_data) is a configuration error: one
// attempt, ErrBadQuery, the query and the server's reason in the message.
// Anything else is retried, and the error says how often and what failed.
func TestErrorsAndRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		status    int
		body      string
		retries   int
		wantCalls int32
		bad       bool
		wantText  string
	}{
		{"bad_data is not retried", 400, `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`, 2, 1, true, "parse error at char 5"},
		{"server error is retried", 503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`, 2, 3, false, "3 attempts"},
		{"no retries configured", 500, `oops`, 0, 1, false, "server_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, url := newFake(t, c.status, c.body)
			cl := mustNew(t, url, promclient.Options{Retries: c.retries, Backoff: time.Millisecond})
			_, err := cl.Vector(context.Background(), `sum((up`, time.Time{})
			if err == nil {
				t.Fatal("no error")
			}
			if got := f.calls.Load(); got != c.wantCalls {
				t.Errorf("%d calls, want %d", got, c.wantCalls)
			}
			if errors.Is(err, promclient.ErrBadQuery) != c.bad {
				t.Errorf("errors.Is(ErrBadQuery) = %v, want %v: %v", !c.bad, c.bad, err)
			}
			var perr *promclient.Error
			if !errors.As(err, &perr) || perr.URL != url || perr.Call != `query "sum((up"` {
				t.Errorf("want a *promclient.Error naming %s and the query, got %#v", url, err)
			}
			if !strings.Contains(err.Error(), c.wantText) || !strings.Contains(err.Error(), url) {
				t.Errorf("message %q lacks %q or the URL", err, c.wantText)
			}
		})
	}
}

// A server that accepts the connection and never answers costs one
// timeout per attempt plus the backoff, not forever.
func TestDeadlinePerAttempt(t *testing.T) {
	t.Parallel()
	cl := mustNew(t, "http://"+testenv.SilentServer(t), promclient.Options{Timeout: 200 * time.Millisecond, Retries: 1, Backoff: 50 * time.Millisecond})
	start := time.Now()
	_, err := cl.Vector(context.Background(), "up", time.Time{})
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want a deadline error, got %v", err)
	}
	// 2 × 200 ms + 50 ms backoff; generous slack for a busy machine
	if elapsed < 400*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("took %s, want about 450ms", elapsed)
	}
	for _, call := range []func() error{
		func() error { _, err := cl.Targets(context.Background()); return err },
		func() error { return cl.Ready(context.Background()) },
	} {
		start := time.Now()
		if err := call(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("want a deadline error, got %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %s", d)
		}
	}
}

// The parent context ends the retries at once.
func TestParentContextStopsRetries(t *testing.T) {
	t.Parallel()
	f, url := newFake(t, 503, `{"status":"error","errorType":"unavailable","error":"x"}`)
	cl := mustNew(t, url, promclient.Options{Retries: 100, Backoff: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cl.Vector(ctx, "up", time.Time{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want the parent's deadline, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s after the parent context ended", d)
	}
	if n := f.calls.Load(); n < 2 || n > 10 {
		t.Errorf("%d calls in 300ms with a growing 50ms backoff", n)
	}
}

// user:password@ in the URL authenticates, and appears in no error.
func TestURLCredentialsNeverPrinted(t *testing.T) {
	t.Parallel()
	const pass = "hunter2-s3cret"
	f, url := newFake(t, 500, `{"status":"error","errorType":"internal","error":"boom"}`)
	withCreds := strings.Replace(url, "http://", "http://gate:"+pass+"@", 1)
	cl := mustNew(t, withCreds, promclient.Options{})
	_, err := cl.Vector(context.Background(), "up", time.Time{})
	if err == nil {
		t.Fatal("no error")
	}
	if auth, _ := f.auth.Load().(string); auth == "" {
		t.Error("the URL's credentials were not sent as basic auth")
	}
	if strings.Contains(err.Error(), pass) || strings.Contains(cl.URL(), pass) {
		t.Errorf("password printed: %v / %s", err, cl.URL())
	}
	if !strings.Contains(err.Error(), "gate:xxxxx@") {
		t.Errorf("error should name the redacted URL: %v", err)
	}
	// a dead server: the error comes from net/http and quotes the URL
	dead := mustNew(t, "http://gate:"+pass+"@127.0.0.1:1", promclient.Options{Timeout: time.Second})
	if _, err := dead.Vector(context.Background(), "up", time.Time{}); err == nil || strings.Contains(err.Error(), pass) {
		t.Errorf("dead server: %v", err)
	}
	// a URL that does not parse
	if _, err := promclient.New("http://gate:"+pass+"@host:port", promclient.Options{}); err == nil || strings.Contains(err.Error(), pass) {
		t.Errorf("bad URL: %v", err)
	}
}

func TestTargetsAndReady(t *testing.T) {
	t.Parallel()
	_, url := newFake(t, 200, "")
	cl := mustNew(t, url, promclient.Options{})
	ts, err := cl.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Health != "up" || ts[1].Health != "down" || ts[0].Labels["job"] != "a" {
		t.Errorf("targets %+v", ts)
	}
	if err := cl.Ready(context.Background()); err != nil {
		t.Errorf("ready: %v", err)
	}
	_, url = newFake(t, 503, "")
	if err := mustNew(t, url, promclient.Options{}).Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "readiness") {
		t.Errorf("503 on /-/ready: want an error naming readiness, got %v", err)
	}
}

func TestNewRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:9090", "ftp://host", "http://", "http://host:port"} {
		if _, err := promclient.New(u, promclient.Options{}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"http://127.0.0.1:9090", "http://127.0.0.1:9090"},
		{"https://user:pa55@mimir.example/prometheus", "https://user:xxxxx@mimir.example/prometheus"},
		{"https://user@mimir.example", "https://user@mimir.example"},
		{"http://host/path@x?q=1", "http://host/path@x?q=1"},
		{"user:pa55@host:9090", "xxxxx@host:9090"},               // no scheme: parses as opaque
		{"http://user:pa55@host:port", "http://xxxxx@host:port"}, // does not parse
		{"", ""},
	}
	for _, c := range cases {
		if got := promclient.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// RedactIn masks the password however a library quotes the URL: as given,
// as re-serialized by net/url, or as its bare userinfo.
func TestRedactIn(t *testing.T) {
	t.Parallel()
	const raw = "http://gate:pa55@pg.example:9091"
	cases := []struct{ msg, want string }{
		{`unexpected status 500 pushing to http://gate:pa55@pg.example:9091/metrics/job/x`, `unexpected status 500 pushing to http://gate:xxxxx@pg.example:9091/metrics/job/x`},
		{`dial gate:pa55@pg.example:9091 failed`, `dial gate:xxxxx@pg.example:9091 failed`},
		{`Put "http://gate:***@pg.example:9091/metrics": refused`, `Put "http://gate:***@pg.example:9091/metrics": refused`},
		{`no URL here`, `no URL here`},
	}
	for _, c := range cases {
		if got := promclient.RedactIn(c.msg, raw); got != c.want {
			t.Errorf("RedactIn(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
	if got := promclient.RedactIn("open http://u:pa55@host:port/x", "http://u:pa55@host:port"); strings.Contains(got, "pa55") {
		t.Errorf("unparsable URL: %q", got)
	}
}
