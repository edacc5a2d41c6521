package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeCreateRequest feeds arbitrary bodies to the JSON decoder of
// POST /api/v1/links: it must never panic, must answer every refusal with a
// client status (400, 413 or 422) and a message free of Go internals, and
// must hand the handler a request with a URL whenever it accepts. Seeds live
// in testdata/fuzz/FuzzDecodeCreateRequest.
func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://example.com"}`, `{"url":"https://example.com","alias":"x","expires_at":"2030-01-02T15:04:05Z"}`,
		`null`, `[]`, `{"url":1}`, `{"url":"a","bogus":1}`, `{"url":"a"} {}`, `{"url":"a"`, ``,
		strings.Repeat("[", 100), `{"expires_at":"tomorrow","url":"x"}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/api/v1/links", bytes.NewReader(body))
		req, err := decode[*createLinkRequest](w, r)
		if err != nil {
			switch s := statusOf(err); s {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("decode(%q): status %d, want 400, 413 or 422 (%v)", body, s, err)
			}
			msg := messageOf(err)
			if msg == "" || strings.Contains(msg, "server.") || strings.Contains(msg, "createLinkRequest") || strings.Contains(msg, "goroutine") {
				t.Fatalf("decode(%q): message %q is empty or shows internals", body, msg)
			}
			return
		}
		if req == nil {
			t.Fatalf("decode(%q) accepted but gave a nil request", body)
		}
		if strings.TrimSpace(req.URL) == "" {
			t.Fatalf("decode(%q) accepted a request without url", body)
		}
		if req.ExpiresAt != nil && *req.ExpiresAt != "" && req.expires == nil {
			t.Fatalf("decode(%q) accepted expires_at %q without parsing it", body, *req.ExpiresAt)
		}
	})
}
