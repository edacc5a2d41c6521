package bench

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen/loadgentest"
)

// The durable-creates run: every 201 inside the window is kept, and the
// verification tells resolved links from lost ones.
func TestCreateLoadAndVerify(t *testing.T) {
	mem := &loadgentest.Shortener{}
	srv := httptest.NewServer(mem)
	defer srv.Close()
	// A second: under -race on a loaded 2-core host 300 ms gave only 9.
	acked, failures, took, err := createLoad(context.Background(), srv.URL, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) < 10 || failures != 0 || took < time.Second {
		t.Fatalf("%d links acknowledged, %d failures in %s; want many, none, at least the window", len(acked), failures, took)
	}
	// Requests abandoned at the window's end may still have been stored.
	if stored := mem.Len(); len(acked) > stored {
		t.Fatalf("%d acknowledged, only %d stored", len(acked), stored)
	}
	resolved, missing, err := verifyLinks(context.Background(), srv.URL, acked)
	if err != nil || resolved != len(acked) || len(missing) != 0 {
		t.Fatalf("verify: %d of %d resolved, missing %v, %v", resolved, len(acked), missing, err)
	}

	// Lose a link and point another elsewhere, as a non-durable store would.
	mem.Delete(acked[0].Code)
	mem.Set(acked[1].Code, "https://elsewhere.example/")
	resolved, missing, err = verifyLinks(context.Background(), srv.URL, acked)
	if err != nil || resolved != len(acked)-2 || len(missing) != 2 {
		t.Fatalf("verify after losing 2: %d of %d resolved, missing %v, %v", resolved, len(acked), missing, err)
	}
}
