package server_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/app/server"
)

// TestPublicRoutesMatchRouter ties PublicRoutes (which creates every
// route's metric series at zero) to the router: each route the public
// listener serves is listed with the same method and pattern, and nothing
// else is. A route added without its entry fails here.
func TestPublicRoutesMatchRouter(t *testing.T) {
	ts := newTestServer(t, nil)
	router, ok := ts.Config.Handler.(chi.Routes)
	if !ok {
		t.Fatalf("public handler is a %T, not a chi router", ts.Config.Handler)
	}
	var served []string
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served = append(served, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range server.PublicRoutes(http.StatusFound) {
		listed = append(listed, r.Method+" "+r.Pattern)
		if !slices.Contains(r.Statuses, http.StatusInternalServerError) && r.Pattern != "/healthz" && r.Pattern != "/readyz" {
			t.Errorf("%s %s: 500 not among its statuses", r.Method, r.Pattern)
		}
	}
	slices.Sort(served)
	slices.Sort(listed)
	if len(served) < 8 {
		t.Fatalf("walk found only %d routes: %v", len(served), served)
	}
	if c := slices.Compact(slices.Clone(listed)); len(c) != len(listed) {
		t.Errorf("PublicRoutes lists a route twice: %v", listed)
	}
	for _, r := range served {
		if !slices.Contains(listed, r) {
			t.Errorf("router serves %q, PublicRoutes does not list it (its metric series would not exist at zero)", r)
		}
	}
	for _, r := range listed {
		if !slices.Contains(served, r) {
			t.Errorf("PublicRoutes lists %q, the router does not serve it", r)
		}
	}
}
