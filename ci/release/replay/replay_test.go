package replay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
)

func TestLabel(t *testing.T) {
	line := `release_info{instance="",job="release",outcome="rolled_back",revision="d253ade",version="v2-bad-1"} 1`
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"version", "v2-bad-1", true},
		{"outcome", "rolled_back", true},
		{"job", "release", true},
		{"instance", "", true},
		{"on", "", false}, // a suffix of another label's name is not a match
		{"missing", "", false},
	}
	for _, tt := range tests {
		got, ok := label(line, tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("label(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := label("no_labels 1", "x"); ok {
		t.Error("label found on a line without labels")
	}
}

func TestStatDelta(t *testing.T) {
	before := map[string]map[string]string{"b/BACKEND": {"wretr": "3"}}
	after := map[string]map[string]string{"b/BACKEND": {"wretr": "10"}, "b/new": {"wretr": "2"}}
	tests := []struct {
		row  string
		want int
	}{{"b/BACKEND", 7}, {"b/new", 2}, {"b/missing", -1}}
	for _, tt := range tests {
		if got := statDelta(before, after, tt.row, "wretr"); got != tt.want {
			t.Errorf("statDelta(%s) = %d, want %d", tt.row, got, tt.want)
		}
	}
}

// TestGetLinesHasADeadline: a /metrics endpoint that accepts the connection
// and never answers fails the read after getTimeout, not never.
func TestGetLinesHasADeadline(t *testing.T) {
	t.Parallel()
	silent := testenv.SilentServer(t)
	t0 := time.Now()
	_, err := getLines(context.Background(), "http://"+silent+"/metrics")
	took := time.Since(t0)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("getLines from a silent endpoint: %v, want a timeout", err)
	}
	if took > getTimeout+time.Second {
		t.Errorf("getLines took %s, deadline %s", took, getTimeout)
	}
}

// TestGetLinesHidesThePassword: an error answer names the URL without its
// password.
func TestGetLinesHidesThePassword(t *testing.T) {
	const secret = "s3cret-Pa55"
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ci:"+secret+"@", 1) + "/metrics"
	_, err := getLines(context.Background(), u)
	if err == nil {
		t.Fatal("a 404 answer gave no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("error %v does not say which endpoint failed", err)
	}
}
