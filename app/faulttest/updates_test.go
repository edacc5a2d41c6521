package faulttest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/pgtest"
)

// TestProcessesSeeUpdates: two processes on one database, both caches
// warm with a link; each change made through one (new target, disabled,
// enabled again, a password) is honoured by the other within a second, as
// deletes are. On PostgreSQL the counter poll is every 10 s (--cache-ttl
// 20s), so only the notifications can meet the bound; on SQLite the
// counter is polled every half second (--cache-ttl 1s).
func TestProcessesSeeUpdates(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			var reps []*instance
			if store == "postgres" {
				_, url := pgtest.NewDatabase(t)
				reps = startReplicas(t, 2, url, pgtest.Env(t), "--cache-ttl", "20s")
			} else {
				db := dbPath(t)
				reps = []*instance{start(t, db, nil, "--cache-ttl", "1s"), start(t, db, nil, "--cache-ttl", "1s")}
			}
			seeUpdates(t, reps)
		})
	}
}

func seeUpdates(t *testing.T, reps []*instance) {
	ctx := context.Background()
	client := newClient(10 * time.Second)
	const code = "upd-watched"
	if st, body, err := createLink(ctx, client, reps[0].URL(), "https://example.com/before", code); err != nil || st != http.StatusCreated {
		t.Fatalf("create: %d %q %v", st, body.Error, err)
	}
	warm := func(target string) {
		t.Helper()
		for i, r := range reps {
			for range 2 { // the second answer comes from the cache
				if st, loc, _, err := get(ctx, client, r.URL()+"/"+code); err != nil || st != http.StatusFound || loc != target {
					t.Fatalf("replica %d: %d %q %v, want 302 to %s", i, st, loc, err, target)
				}
			}
		}
	}
	// within waits until replica other answers want (and, for a redirect,
	// to target), failing if that takes more than a second.
	within := func(other int, what string, want int, target string) {
		t.Helper()
		acked := time.Now()
		for {
			st, loc, body, err := get(ctx, client, reps[other].URL()+"/"+code)
			if err == nil && st == want && loc == target {
				if want == http.StatusOK && strings.Contains(body, "https://example.com/") {
					t.Fatalf("replica %d's password page shows the target: %s", other, body)
				}
				t.Logf("replica %d honoured %q %s after it was acknowledged", other, what, time.Since(acked).Round(time.Millisecond))
				return
			}
			if time.Since(acked) > time.Second {
				t.Fatalf("replica %d still answers %d %q %v a second after %q was acknowledged, want %d %q", other, st, loc, err, what, want, target)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	patch := func(via int, body string) {
		t.Helper()
		if st := adminDo(t, ctx, client, http.MethodPatch, reps[via].URL()+"/api/v1/links/"+code, body); st != http.StatusOK {
			t.Fatalf("PATCH %s through replica %d: %d", body, via, st)
		}
	}

	warm("https://example.com/before")
	patch(0, `{"url":"https://example.com/after"}`)
	within(1, "new target", http.StatusFound, "https://example.com/after")

	warm("https://example.com/after")
	patch(1, `{"disabled":true}`)
	within(0, "disabled", http.StatusGone, "")

	patch(0, `{"disabled":false}`)
	within(1, "enabled", http.StatusFound, "https://example.com/after")

	warm("https://example.com/after")
	patch(0, `{"password":"a-long-secret-1"}`)
	within(1, "password", http.StatusOK, "")
}
