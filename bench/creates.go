package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// createResult is the durable creation run.
type createResult struct {
	Clients  int      `json:"clients"`
	Seconds  float64  `json:"seconds"`
	Created  int      `json:"created_201"`
	PerSec   float64  `json:"created_per_second"`
	Failures int64    `json:"failures_before_kill"`
	Verified int      `json:"verified"`
	Resolved int      `json:"resolved"`
	Missing  []string `json:"missing,omitempty"`
}

type ackedLink struct{ code, url string }

// createLoad posts links from clients concurrent keep-alive connections
// until the window ends and returns every link answered 201 inside it.
// Requests still in flight at the end are abandoned: the caller kills the
// server under load, and only acknowledged links count.
func createLoad(ctx context.Context, baseURL string, clients int, window time.Duration) ([]ackedLink, int64, time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	var (
		mu       sync.Mutex
		acked    []ackedLink
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			var mine []ackedLink
			for seq := 0; ctx.Err() == nil; seq++ {
				target := fmt.Sprintf("https://example.org/created/%d/%d", c, seq)
				body := fmt.Sprintf(`{"url":%q}`, target)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/v1/links", bytes.NewBufferString(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failures.Add(1)
					}
					continue
				}
				var got struct {
					Code string `json:"code"`
					URL  string `json:"url"`
				}
				err = json.NewDecoder(resp.Body).Decode(&got)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated || err != nil || got.Code == "" {
					failures.Add(1)
					continue
				}
				mine = append(mine, ackedLink{code: got.Code, url: got.URL})
			}
			mu.Lock()
			acked = append(acked, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return acked, failures.Load(), time.Since(start)
}

// verifyLinks requests every acknowledged code (without following the
// redirect) and returns how many answer 302 to their own URL, and up to ten
// codes that did not.
func verifyLinks(ctx context.Context, baseURL string, links []ackedLink) (int, []string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var (
		ok      atomic.Int64
		mu      sync.Mutex
		missing []string
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(links) || ctx.Err() != nil {
					return
				}
				l := links[i]
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/"+l.code, nil)
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusFound && resp.Header.Get("Location") == l.url {
						ok.Add(1)
						continue
					}
				}
				mu.Lock()
				if len(missing) < 10 {
					missing = append(missing, l.code)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return int(ok.Load()), missing
}
