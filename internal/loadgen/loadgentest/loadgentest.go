// Package loadgentest holds an in-memory stand-in for the shortener's public
// API, for tests of code that sends load to it (loadgen itself, the
// benchmark's durable-creates run).
package loadgentest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Shortener answers POST /api/v1/links with 201 and {"code","url"},
// GET /{code} with a 302 to the link's URL and GET /{code}/qr with a PNG
// signature (404 for an unknown code). The
// zero value is ready; it is safe for concurrent use.
type Shortener struct {
	mu        sync.Mutex
	links     map[string]string
	created   int // names codes: c0, c1, ... (never reused after Delete)
	redirects int
	failEvery int
}

func (s *Shortener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = map[string]string{}
	}
	if r.Method == http.MethodPost && r.URL.Path == "/api/v1/links" {
		var in struct{ URL string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		code := fmt.Sprintf("c%d", s.created)
		s.created++
		s.links[code] = in.URL
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "url": in.URL})
		return
	}
	s.redirects++
	if s.failEvery > 0 && s.redirects%s.failEvery == 0 {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	code, qr := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/qr")
	u, ok := s.links[code]
	switch {
	case !ok:
		http.NotFound(w, r)
	case qr:
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	default:
		http.Redirect(w, r, u, http.StatusFound)
	}
}

// FailRedirects makes every n-th request other than a creation answer 500
// from now on, as a broken release would; 0 heals it.
func (s *Shortener) FailRedirects(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEvery, s.redirects = n, 0
}

// Len is the number of links stored.
func (s *Shortener) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.links)
}

// Set points code at url, as a store that mixed up links would.
func (s *Shortener) Set(code, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = map[string]string{}
	}
	s.links[code] = url
}

// Delete loses a link, as a store that is not durable would.
func (s *Shortener) Delete(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.links, code)
}
