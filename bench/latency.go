package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/obsshort/shortener/bench/linkset"
)

// latencyResult is one open-loop run at a fixed rate.
type latencyResult struct {
	Rate     int     `json:"rate_per_second"`
	Achieved float64 `json:"achieved_per_second"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	// FirstError is the first failure seen, for diagnosis.
	FirstError string        `json:"first_error,omitempty"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	Max        time.Duration `json:"max_ns"`
}

// measureLatency sends GET /<code> at a fixed rate for d with vegeta (as a
// library). vegeta is open-loop: its pacer hands out requests on schedule
// and starts more workers when all are busy, so a slow answer does not
// delay the next request (no coordinated omission while workers suffice).
// Each latency runs from dispatch to the end of the response body; every
// sample is kept and the percentiles are exact.
//
// The warm-up runs on the same HTTP client (a second attacker over its
// connection pool), so the measured run starts with its connections open,
// as a server in service has them. (A fresh attacker
// per run started with 64 workers dialling at once on the load generator's
// single CPU; while they dialled the pacer started more workers, each
// dialling too, and the generator itself fell behind: about 1,000
// connections for the baseline, 10,000 for the shortener, whose CPU stayed
// at 3% while p50 reached seconds.)
func measureLatency(ctx context.Context, baseURL string, links, rate int, warmup, d time.Duration) (latencyResult, error) {
	// One client for the warm-up and the measured run (a vegeta attacker
	// stops for good after one attack): its pool keeps the connections.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        10_000,
		MaxIdleConnsPerHost: 10_000,
		MaxConnsPerHost:     10_000,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	attacker := func() *vegeta.Attacker {
		return vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(64), vegeta.MaxWorkers(10_000))
	}
	targeter := func(t *vegeta.Target) error {
		t.Method = http.MethodGet
		t.URL = baseURL + "/" + linkset.Code(rand.IntN(links))
		return nil
	}
	warm := attacker()
	stopWarm := context.AfterFunc(ctx, func() { warm.Stop() })
	for range warm.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, warmup, "warm-up") {
	}
	stopWarm()
	// The generator's own garbage collection would show up as server
	// latency: it shares one CPU with the generator's workers. A run of
	// d at rate makes a few hundred MB of garbage at most.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	atk := attacker()
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	res := latencyResult{Rate: rate}
	lat := make([]time.Duration, 0, rate*int(d.Seconds()+1))
	var first, last time.Time
	for r := range atk.Attack(targeter, vegeta.Rate{Freq: rate, Per: time.Second}, d, "bench") {
		res.Requests++
		if r.Error != "" || r.Code != http.StatusFound {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("status %d: %s", r.Code, r.Error)
			}
		}
		lat = append(lat, r.Latency)
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(lat) == 0 {
		return res, fmt.Errorf("latency run on %s: no responses", baseURL)
	}
	slices.Sort(lat)
	res.P50 = quantile(lat, 0.50)
	res.P99 = quantile(lat, 0.99)
	res.P999 = quantile(lat, 0.999)
	res.Max = lat[len(lat)-1]
	if span := last.Sub(first).Seconds(); span > 0 {
		res.Achieved = float64(res.Requests-1) / span
	}
	return res, nil
}

// quantile returns the q-quantile of sorted samples (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
