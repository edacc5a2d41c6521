package faulttest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/loadgen"
	"github.com/obsshort/shortener/internal/testenv"
)

// latencies runs creates and redirects from a few goroutines for d and
// returns every request's latency; any failed request fails the test.
func latencies(t *testing.T, in *instance, d time.Duration) []time.Duration {
	t.Helper()
	client := newClient(10 * time.Second)
	ctx := context.Background()
	st, seed, err := createLink(ctx, client, in.URL(), "https://example.com/latency", "")
	if err != nil || st != http.StatusCreated {
		t.Fatalf("seed link: %d %v", st, err)
	}
	var (
		mu  sync.Mutex
		out []time.Duration
	)
	run, stop := context.WithTimeout(ctx, d)
	defer stop()
	drive(t, run, loadgen.Pace{Workers: 4}, func(rctx context.Context, r loadgen.Request) {
		begin := time.Now()
		if r.Seq%2 == 0 {
			st, _, err := createLink(rctx, client, in.URL(), fmt.Sprintf("https://example.com/lat/%d", r.Seq), "")
			if err != nil || st != http.StatusCreated {
				t.Errorf("create: %d %v", st, err)
				stop()
				return
			}
		} else {
			st, _, _, err := get(rctx, client, in.URL()+"/"+seed.Code)
			if err != nil || st != http.StatusFound {
				t.Errorf("redirect: %d %v", st, err)
				stop()
				return
			}
		}
		mu.Lock()
		out = append(out, time.Since(begin))
		mu.Unlock()
	})
	slices.Sort(out)
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// scrape reads the admin /metrics once and returns the value of each series
// asked for (0 if absent). It uses a connection per scrape, so that scraping
// itself leaves no idle connection behind on the service.
func scrape(t *testing.T, in *instance, series ...string) []float64 {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	_, _, body, err := get(context.Background(), client, in.AdminURL()+"/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	out := make([]float64, len(series))
	for _, line := range strings.Split(body, "\n") {
		for i, name := range series {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err != nil {
					t.Fatalf("metric %s: %v", line, err)
				}
				out[i] = v
			}
		}
	}
	return out
}

// metricValue reads one series from the admin /metrics, 0 if absent.
func metricValue(t *testing.T, in *instance, series string) float64 {
	t.Helper()
	return scrape(t, in, series)[0]
}

// TestTraceCollectorDown points trace export at a closed port and at a
// collector that accepts connections but never answers. Requests must keep
// their normal latency (export is asynchronous and bounded) and the lost
// spans must be counted, which proves export was really attempted.
func TestTraceCollectorDown(t *testing.T) {
	base := latencies(t, start(t, dbPath(t), nil), 2*time.Second)
	baseP99 := quantile(base, 0.99)
	t.Logf("no collector configured: %d requests, p50 %s, p99 %s", len(base), quantile(base, 0.5), baseP99)

	hanging := testenv.SilentServer(t)

	for _, tc := range []struct{ name, endpoint string }{
		{"closed port", "http://" + testenv.FreeAddr(t)},
		{"hanging collector", "http://" + hanging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := start(t, dbPath(t), []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + tc.endpoint,
				"OTEL_EXPORTER_OTLP_TIMEOUT=500", // ms: let failures show within the test
				"OTEL_TRACES_SAMPLER=always_on",  // every request exports: the worst case
			})
			lat := latencies(t, in, 2*time.Second)
			p99 := quantile(lat, 0.99)
			t.Logf("%s: %d requests, p50 %s, p99 %s, max %s", tc.name, len(lat), quantile(lat, 0.5), p99, lat[len(lat)-1])
			if limit := 3*baseP99 + 100*time.Millisecond; p99 > limit {
				t.Errorf("p99 %s with the collector down, over %s (3 x baseline + 100ms)", p99, limit)
			}
			if len(lat) < len(base)/3 {
				t.Errorf("only %d requests in 2 s against %d without a collector", len(lat), len(base))
			}
			series := `shortener_trace_spans_dropped_total{reason="export_failed"}`
			deadline := time.Now().Add(10 * time.Second)
			for metricValue(t, in, series) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s still 0 after 10 s: was export attempted?", series)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// TestSlowloris opens more slow connections than --max-connections, each
// sending its headers a byte at a time. The header timeout must close them
// although they keep sending, and a normal client must still get answers.
func TestSlowloris(t *testing.T) {
	const headerTimeout = time.Second

	const (
		attackers = 64
		slots     = 32
	)
	// A connection waits in the accept queue for a free slot, then gets its
	// own header timeout: attackers/slots rounds, plus slack for a busy machine.
	limit := (attackers/slots + 2) * headerTimeout
	in := start(t, dbPath(t), nil, "--read-header-timeout", headerTimeout.String(), "--max-connections", strconv.Itoa(slots))
	// The lowest of a few readings: the server may still hold the previous
	// scrape's connection when one reading is taken, which would count one
	// attacker short.
	fdsBefore := metricValue(t, in, "process_open_fds")
	for range 4 {
		time.Sleep(50 * time.Millisecond)
		fdsBefore = min(fdsBefore, metricValue(t, in, "process_open_fds"))
	}
	closedAfter := make(chan time.Duration, attackers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range attackers {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", in.Addr, 5*time.Second)
			if err != nil {
				closedAfter <- 0
				return
			}
			defer c.Close()
			begin := time.Now()
			go func() { // detect the server closing the connection
				_, _ = bufio.NewReader(c).ReadString('\n')
				closedAfter <- time.Since(begin)
			}()
			header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
			for i := 0; i < len(header); i++ {
				if _, err := c.Write([]byte{header[i]}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	// The premise: the attackers hold every slot, so a normal client gets
	// in only because the header timeout frees them. Each accepted
	// connection is an open file of the process (the scrape's own
	// connection is in both readings).
	held := 0.0
	for deadline := time.Now().Add(headerTimeout); held < slots; time.Sleep(20 * time.Millisecond) {
		held = metricValue(t, in, "process_open_fds") - fdsBefore
		if time.Now().After(deadline) {
			t.Fatalf("the attackers hold %.0f connections, not all %d slots: the attack did not take place", held, slots)
		}
	}
	t.Logf("the attackers hold %.0f connections (%d slots)", held, slots)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var worst time.Duration
	for range 10 {
		begin := time.Now()
		resp, err := client.Get(in.URL() + "/healthz")
		if err != nil {
			t.Fatalf("normal client during the attack: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("normal client during the attack: %d", resp.StatusCode)
		}
		worst = max(worst, time.Since(begin))
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("normal client: 10 of 10 answered, slowest %s", worst.Round(time.Millisecond))
	if worst > limit {
		t.Errorf("normal client waited %s; want under %s", worst, limit)
	}

	var longest time.Duration
	for range attackers {
		select {
		case d := <-closedAfter:
			longest = max(longest, d)
		case <-time.After(15 * time.Second):
			t.Fatal("a slow connection was still open 15 s later")
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d slow connections closed by the server, the last after %s", attackers, longest.Round(time.Millisecond))
	if longest > limit {
		t.Errorf("slow connections held for up to %s; want under %s", longest, limit)
	}
	if in.exited() {
		t.Fatal("the service died under the attack")
	}
}
