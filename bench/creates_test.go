package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// memShortener creates links and redirects them, in memory.
type memShortener struct {
	mu    sync.Mutex
	links map[string]string
}

func (m *memShortener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Method == http.MethodPost {
		var in struct{ URL string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		code := fmt.Sprintf("c%d", len(m.links))
		m.links[code] = in.URL
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "url": in.URL})
		return
	}
	u, ok := m.links[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// The durable-creates run: every 201 inside the window is kept, and the
// verification tells resolved links from lost ones.
func TestCreateLoadAndVerify(t *testing.T) {
	mem := &memShortener{links: map[string]string{}}
	srv := httptest.NewServer(mem)
	defer srv.Close()
	acked, failures, took, err := createLoad(context.Background(), srv.URL, 4, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) < 10 || failures != 0 || took < 300*time.Millisecond {
		t.Fatalf("%d links acknowledged, %d failures in %s; want many, none, at least the window", len(acked), failures, took)
	}
	// Requests abandoned at the window's end may still have been stored.
	mem.mu.Lock()
	stored := len(mem.links)
	mem.mu.Unlock()
	if len(acked) > stored {
		t.Fatalf("%d acknowledged, only %d stored", len(acked), stored)
	}
	resolved, missing, err := verifyLinks(context.Background(), srv.URL, acked)
	if err != nil || resolved != len(acked) || len(missing) != 0 {
		t.Fatalf("verify: %d of %d resolved, missing %v, %v", resolved, len(acked), missing, err)
	}

	// Lose a link and point another elsewhere, as a non-durable store would.
	mem.mu.Lock()
	delete(mem.links, acked[0].Code)
	mem.links[acked[1].Code] = "https://elsewhere.example/"
	mem.mu.Unlock()
	resolved, missing, err = verifyLinks(context.Background(), srv.URL, acked)
	if err != nil || resolved != len(acked)-2 || len(missing) != 2 {
		t.Fatalf("verify after losing 2: %d of %d resolved, missing %v, %v", resolved, len(acked), missing, err)
	}
}
