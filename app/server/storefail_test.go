package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/server"
)

// failingStore answers every read and write of the link-owner routes with
// err, as a store that is down (EUNAVAILABLE) or broken (any other error)
// would; the other methods reach the real store.
type failingStore struct {
	app.LinkStore
	err error
}

func (s *failingStore) FindLink(context.Context, string) (*app.Link, error) { return nil, s.err }
func (s *failingStore) ScanLinks(context.Context, app.ScanQuery, func(*app.Link) bool) error {
	return s.err
}
func (s *failingStore) UpdateLink(context.Context, string, app.LinkUpdate) (*app.Link, error) {
	return nil, s.err
}
func (s *failingStore) ImportLinks(context.Context, []*app.Link) ([]app.ImportOutcome, error) {
	return nil, s.err
}
func (s *failingStore) DailyVisits(context.Context, string, time.Time, time.Time) ([]app.DayCount, error) {
	return nil, s.err
}

// TestLinkRoutesWhenTheStoreFails: each route of the link owners' features
// answers a store that is down with 503 and a broken one with 500, each a
// status PublicRoutes declares for it, with a message and without the
// internal error's text. An import has answered 200 before it reaches the
// store (its report is streamed), so it ends with done false and the
// reason instead.
func TestLinkRoutesWhenTheStoreFails(t *testing.T) {
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	routes := []struct {
		method, pattern, path, body string
		header                      []string
		// streamed: the answer's 200 went out before the store was
		// reached; its last line says the import did not finish, and why.
		streamed bool
	}{
		{"GET", "/api/v1/links", "/api/v1/links?limit=5", "", bearer, false},
		{"GET", "/api/v1/links/{code}", "/api/v1/links/abc", "", nil, false},
		{"PATCH", "/api/v1/links/{code}", "/api/v1/links/abc", `{"disabled":true}`, bearer, false},
		{"GET", "/api/v1/links/{code}/visits", "/api/v1/links/abc/visits", "", nil, false},
		{"POST", "/{code}", "/abc", "password=a-long-secret-1", form, false},
		{"GET", "/{code}+", "/abc+", "", nil, false},
		{"GET", "/{code}", "/abc", "", nil, false},
		{"GET", "/{code}/qr", "/abc/qr", "", nil, false},
		{"POST", "/api/v1/import", "/api/v1/import?format=plain", "https://example.com/a,imp-a\n", bearer, true},
	}
	declared := map[string][]int{}
	for _, r := range server.PublicRoutes(http.StatusFound) {
		declared[r.Method+" "+r.Pattern] = r.Statuses
	}
	const secret = "disk-layout-detail-7f3a"
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"down", app.Errorf(app.EUNAVAILABLE, "the store is unreachable; try again shortly"), http.StatusServiceUnavailable},
		{"broken", errors.New("corrupt page " + secret), http.StatusInternalServerError},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, func(d *server.Deps) {
				d.Service.Store = &failingStore{LinkStore: d.Service.Store, err: c.err}
			})
			for _, r := range routes {
				resp, body := ts.do(t, r.method, r.path, r.body, r.header...)
				what := fmt.Sprintf("%s %s (store %s)", r.method, r.path, c.name)
				want := c.want
				if r.streamed {
					want = http.StatusOK
					var end struct {
						Done  *bool  `json:"done"`
						Error string `json:"error"`
					}
					lines := strings.Split(strings.TrimSpace(body), "\n")
					if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil || end.Done == nil || *end.Done || end.Error == "" {
						t.Errorf("%s: last line %q (%v), want done false with the error", what, lines[len(lines)-1], err)
					}
				}
				if resp.StatusCode != want {
					t.Errorf("%s: %d %s, want %d", what, resp.StatusCode, body, want)
				}
				if !slices.Contains(declared[r.method+" "+r.pattern], resp.StatusCode) {
					t.Errorf("%s: %d is not among the statuses PublicRoutes declares for %s %s: %v", what, resp.StatusCode, r.method, r.pattern, declared[r.method+" "+r.pattern])
				}
				if strings.TrimSpace(errText(body)) == "" {
					t.Errorf("%s: no message in the answer", what)
				}
				if strings.Contains(body, secret) {
					t.Errorf("%s: the internal error reached the client: %s", what, body)
				}
			}
		})
	}
}
