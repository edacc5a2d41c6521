package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen/loadgentest"
)

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"remote target", Config{BaseURL: "http://example.com", RPS: 10}, "loopback"},
		{"zero rate", Config{BaseURL: "http://127.0.0.1:1", RPS: 0}, "rps"},
		{"create share above 1", Config{BaseURL: "http://127.0.0.1:1", RPS: 10, CreateShare: 2}, "create share"},
		{"qr and create shares above 1", Config{BaseURL: "http://127.0.0.1:1", RPS: 10, CreateShare: 0.5, QRShare: 0.6}, "qr share"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestCountsFailedAndSub(t *testing.T) {
	tests := []struct {
		name         string
		now, earlier Counts
		wantFailed   int
		wantTotal    int
	}{
		{"5xx and no answer fail", Counts{Total: 10, ByStatus: map[int]int{302: 6, 500: 2, 503: 1, 0: 1}}, Counts{ByStatus: map[int]int{}}, 4, 10},
		{"4xx is the user's", Counts{Total: 5, ByStatus: map[int]int{404: 2, 201: 3}}, Counts{ByStatus: map[int]int{}}, 0, 5},
		{"wrong redirect fails", Counts{Total: 3, WrongRedirect: 1, ByStatus: map[int]int{302: 3}}, Counts{ByStatus: map[int]int{}}, 1, 3},
		{"since a snapshot", Counts{Total: 10, ByStatus: map[int]int{302: 8, 500: 2}}, Counts{Total: 4, ByStatus: map[int]int{302: 2, 500: 2}}, 0, 6},
		{"not sent is no failure", Counts{Total: 4, NotSent: 7, ByStatus: map[int]int{302: 4}}, Counts{ByStatus: map[int]int{}}, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.now.Sub(tt.earlier)
			if d.Failed() != tt.wantFailed || d.Total != tt.wantTotal {
				t.Fatalf("%s: failed %d total %d, want %d and %d", d, d.Failed(), d.Total, tt.wantFailed, tt.wantTotal)
			}
		})
	}
}

func TestRunCountsEveryAnswerAndVerify(t *testing.T) {
	fake := &loadgentest.Shortener{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	g, err := New(Config{BaseURL: srv.URL, RPS: 200, CreateShare: 0.2, QRShare: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	g.Run(ctx)
	c := g.Counts()
	if c.Total < 50 || c.Failed() != 0 || c.ByStatus[201] == 0 || c.ByStatus[302] == 0 || c.ByStatus[200] == 0 {
		t.Fatalf("counts %s: want ~100 requests, creations, redirects and QR codes, no failure", c)
	}
	if len(g.Links()) != c.ByStatus[201] {
		t.Fatalf("%d links kept, %d created", len(g.Links()), c.ByStatus[201])
	}
	if broken := g.Verify(context.Background(), g.Links()); len(broken) != 0 {
		t.Fatalf("verify: %v", broken)
	}
	// A link the server does not know is reported.
	if broken := g.Verify(context.Background(), []Link{{Code: "nope", URL: "https://x"}}); len(broken) != 1 {
		t.Fatalf("verify of an unknown link: %v", broken)
	}

	fake.FailRedirects(3)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	before := g.Counts()
	g.Run(ctx2)
	if d := g.Counts().Sub(before); d.ByStatus[500] == 0 || d.Failed() != d.ByStatus[500] {
		t.Fatalf("broken server: %s, want 500s counted as failures", d)
	}
}

// A QR answer that is no image is an error (the load counts it as a wrong
// answer); an unknown code is its 404.
func TestQRChecksTheImage(t *testing.T) {
	fake := &loadgentest.Shortener{}
	fake.Set("good", "https://example.com/")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/text/qr" {
			_, _ = w.Write([]byte("not an image"))
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client := NoRedirects(time.Second, 1)
	for _, tc := range []struct {
		code    string
		status  int
		wantErr bool
	}{{"good", 200, false}, {"text", 200, true}, {"nope", 404, false}} {
		status, err := QR(context.Background(), client, srv.URL, tc.code)
		if status != tc.status || (err != nil) != tc.wantErr {
			t.Errorf("QR %s: %d %v, want %d (error %v)", tc.code, status, err, tc.status, tc.wantErr)
		}
	}
}

// TestStalledServer: with every slot taken by a server that holds requests,
// the requests the loop could not start are counted as not sent (outside
// Total), and the held ones that outlive the timeout are failures.
func TestStalledServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g, err := New(Config{BaseURL: srv.URL, RPS: 200, MaxInFlight: 4, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	g.Run(ctx)
	c := g.Counts()
	if c.NotSent == 0 || c.Total == 0 || c.Failed() != c.Total || c.ByStatus[0] != c.Total {
		t.Fatalf("counts %s: want requests not sent, and every sent one a timeout (no answer)", c)
	}
	if !strings.Contains(c.String(), "not-sent=") {
		t.Fatalf("counts %q: want the not-sent count shown", c)
	}
}
