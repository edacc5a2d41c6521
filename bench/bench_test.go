package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/bench/linkset"
)

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:4000
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.02ms  30.00ms   90.00%
    Req/Sec    20.60k     1.20k   22.00k    70.00%
  205123 requests in 10.00s, 40.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  20512.30
Transfer/sec:      4.00MB
`
	got, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{RPS: 20512.30, Requests: 205123, Non3xx: 7, SockErrs: 3}
	if got != want {
		t.Fatalf("parseWrk = %+v, want %+v", got, want)
	}
	if err := got.failed(); err != nil {
		t.Errorf("10 bad of 205123 should pass: %v", err)
	}
	if err := (wrkResult{Requests: 1000, Non3xx: 2}).failed(); err == nil {
		t.Error("0.2% errors should fail")
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("output without Requests/sec should be an error")
	}
}

func TestQuantileAndMedian(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 500, 0.99: 990, 0.999: 999, 1: 1000} {
		if got := quantile(s, q); got != want {
			t.Errorf("quantile(%v) = %d, want %d", q, got, want)
		}
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
}

// The Lua script and the Go side must name the same codes.
func TestLinksetAgrees(t *testing.T) {
	if got := linkset.Code(42); got != "b0000042" {
		t.Errorf("Code(42) = %q", got)
	}
	if !strings.Contains(wrkScript, `string.format("/b%07d", i)`) {
		t.Errorf("wrk script does not build codes like linkset.Code:\n%s", wrkScript)
	}
}
