// Package loadgen is the one load generator of the module. Drive paces
// requests, in a closed loop (a fixed pool of clients) or an open loop (a
// fixed rate); the fault tests, the soak test and the benchmark's durable
// creation run use it with their own requests. Generator sends steady user
// traffic (link creations and redirects) to the shortener through its
// public URL on top of Drive and counts every answer by status; it targets
// loopback only. Create, Follow and Verify are the requests themselves.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config of a load run.
type Config struct {
	// BaseURL is where users reach the service, e.g. http://127.0.0.1:18080.
	BaseURL string
	// RPS is the request rate (open loop: slow answers do not slow it down).
	RPS float64
	// CreateShare is the share of requests that create a link; the others
	// follow a link created earlier.
	CreateShare float64
	// QRShare is the share of requests that fetch the QR code of a link
	// created earlier (GET /{code}/qr) instead of following it: a route
	// with little traffic, where a regression hides in the sums.
	QRShare float64
	// MaxInFlight bounds concurrent requests (default 256).
	MaxInFlight int
	// Timeout of one request (default 5s).
	Timeout time.Duration
}

// Link is a link the load created, with the URL it must redirect to.
type Link struct {
	Code string
	URL  string
}

// Counts are the answers seen so far. Status 0 counts requests that got no
// HTTP answer at all (connection refused, reset, timeout).
type Counts struct {
	Total    int
	ByStatus map[int]int
	// WrongRedirect counts 3xx answers whose Location was not the link's
	// URL, and 200 answers to a QR code request that are no PNG.
	WrongRedirect int
	// NotSent counts requests the open loop could not start because
	// MaxInFlight were still in flight: a stall of the service or of this
	// host. They are not in Total and not failures: a real user's request
	// would have been sent, and the ones in flight show what it met (late
	// answers, or timeouts, which count as no answer).
	NotSent int
}

// Failed counts what a user sees as a failure: 5xx and no answer.
func (c Counts) Failed() int {
	n := c.ByStatus[0]
	for s, v := range c.ByStatus {
		if s >= 500 {
			n += v
		}
	}
	return n + c.WrongRedirect
}

// Sub returns the counts since an earlier snapshot.
func (c Counts) Sub(earlier Counts) Counts {
	d := Counts{Total: c.Total - earlier.Total, WrongRedirect: c.WrongRedirect - earlier.WrongRedirect, NotSent: c.NotSent - earlier.NotSent, ByStatus: map[int]int{}}
	for s, v := range c.ByStatus {
		if n := v - earlier.ByStatus[s]; n != 0 {
			d.ByStatus[s] = n
		}
	}
	return d
}

// String is e.g. "1500 requests: 201=150 302=1345 500=5".
func (c Counts) String() string {
	keys := make([]int, 0, len(c.ByStatus))
	for s := range c.ByStatus {
		keys = append(keys, s)
	}
	sort.Ints(keys)
	parts := []string{fmt.Sprintf("%d requests:", c.Total)}
	for _, s := range keys {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "no-answer"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, c.ByStatus[s]))
	}
	if c.WrongRedirect > 0 {
		parts = append(parts, fmt.Sprintf("wrong-redirect=%d", c.WrongRedirect))
	}
	if c.NotSent > 0 {
		parts = append(parts, fmt.Sprintf("not-sent=%d", c.NotSent))
	}
	return strings.Join(parts, " ")
}

// Generator runs the load and keeps its counts.
type Generator struct {
	cfg    Config
	client *http.Client

	mu      sync.Mutex
	counts  Counts
	links   []Link
	lastErr string
	seq     int
}

// New checks the config and returns a generator.
func New(cfg Config) (*Generator, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("base url: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("base url %s: load is only sent to loopback", cfg.BaseURL)
	}
	if cfg.RPS <= 0 || cfg.RPS > 5000 {
		return nil, fmt.Errorf("rps %v: want 0 < rps <= 5000", cfg.RPS)
	}
	if cfg.CreateShare < 0 || cfg.CreateShare > 1 {
		return nil, fmt.Errorf("create share %v: want 0..1", cfg.CreateShare)
	}
	if cfg.QRShare < 0 || cfg.CreateShare+cfg.QRShare > 1 {
		return nil, fmt.Errorf("qr share %v: want 0..1-create share (%v)", cfg.QRShare, cfg.CreateShare)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Generator{
		cfg:    cfg,
		client: NoRedirects(cfg.Timeout, cfg.MaxInFlight),
		counts: Counts{ByStatus: map[int]int{}},
	}, nil
}

// Run sends requests until ctx ends, then waits for those in flight.
func (g *Generator) Run(ctx context.Context) {
	pace := Pace{
		RPS: g.cfg.RPS, MaxInFlight: g.cfg.MaxInFlight,
		Saturated: g.notSent,
	}
	// New checked the rate, so Drive cannot refuse the pace.
	_, _ = Drive(ctx, pace, func(ctx context.Context, _ Request) {
		rctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
		defer cancel()
		g.one(rctx)
	})
}

func (g *Generator) one(ctx context.Context) {
	g.mu.Lock()
	var link Link
	r := rand.Float64()
	create := len(g.links) == 0 || r < g.cfg.CreateShare
	qr := !create && r < g.cfg.CreateShare+g.cfg.QRShare
	if !create {
		link = g.links[rand.IntN(len(g.links))]
	}
	g.seq++
	seq := g.seq
	g.mu.Unlock()
	if create {
		l, status, err := Create(ctx, g.client, g.cfg.BaseURL, fmt.Sprintf("https://example.com/load/%d/%d", time.Now().UnixNano(), seq))
		if status == http.StatusCreated {
			g.mu.Lock()
			g.links = append(g.links, l)
			g.mu.Unlock()
		}
		g.record(status, false, errText(err))
		return
	}
	if qr {
		status, err := QR(ctx, g.client, g.cfg.BaseURL, link.Code)
		g.record(status, status == http.StatusOK && err != nil, errText(err))
		return
	}
	status, loc, err := Follow(ctx, g.client, g.cfg.BaseURL, link.Code)
	g.record(status, status >= 300 && status < 400 && loc != link.URL, errText(err))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// notSent counts a request the pace could not start (see Counts.NotSent).
func (g *Generator) notSent() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.counts.NotSent++
	g.lastErr = "client saturated: a request not sent"
}

func (g *Generator) record(status int, wrong bool, errMsg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.counts.Total++
	g.counts.ByStatus[status]++
	if wrong {
		g.counts.WrongRedirect++
	}
	if errMsg != "" {
		g.lastErr = errMsg
	}
}

// Counts returns a snapshot of the counts.
func (g *Generator) Counts() Counts {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := Counts{Total: g.counts.Total, WrongRedirect: g.counts.WrongRedirect, NotSent: g.counts.NotSent, ByStatus: make(map[int]int, len(g.counts.ByStatus))}
	for s, v := range g.counts.ByStatus {
		c.ByStatus[s] = v
	}
	return c
}

// Links returns the links created so far (201 answers).
func (g *Generator) Links() []Link {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Link(nil), g.links...)
}

// LastError is the most recent transport error, for diagnostics.
func (g *Generator) LastError() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr
}

// Create makes a link through the public API. status is 0 when no HTTP
// answer came.
func Create(ctx context.Context, client *http.Client, baseURL, target string) (Link, int, error) {
	body, _ := json.Marshal(map[string]string{"url": target})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/v1/links", bytes.NewReader(body))
	if err != nil {
		return Link{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Link{}, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return Link{}, resp.StatusCode, nil
	}
	var created struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.Code == "" {
		return Link{}, resp.StatusCode, fmt.Errorf("create: unexpected body %.200s", b)
	}
	return Link{Code: created.Code, URL: target}, resp.StatusCode, nil
}

// Follow requests a short link without following the redirect and returns
// the status and Location.
func Follow(ctx context.Context, client *http.Client, baseURL, code string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/"+code, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// QR fetches a link's QR code image and returns the status; a 200 that is
// not a PNG is an error.
func QR(ctx context.Context, client *http.Client, baseURL, code string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/"+code+"/qr", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK && !bytes.HasPrefix(b, []byte("\x89PNG")) {
		return resp.StatusCode, fmt.Errorf("qr /%s: %s answer is not a PNG", code, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, nil
}

// Verify follows every link once (a few at a time) and returns those that
// do not redirect to their URL, with what happened.
func (g *Generator) Verify(ctx context.Context, links []Link) []string {
	return Verify(ctx, g.client, g.cfg.BaseURL, links)
}

// Verify follows every link once through baseURL, 16 at a time, and returns
// those that do not redirect to their URL, with what happened. client must
// not follow redirects.
func Verify(ctx context.Context, client *http.Client, baseURL string, links []Link) []string {
	var (
		mu     sync.Mutex
		broken []string
		wg     sync.WaitGroup
	)
	work := make(chan Link)
	for range 16 {
		wg.Go(func() {
			for l := range work {
				status, loc, err := Follow(ctx, client, baseURL, l.Code)
				if err != nil || status < 300 || status > 399 || loc != l.URL {
					mu.Lock()
					broken = append(broken, fmt.Sprintf("/%s: status %d location %q err %v", l.Code, status, loc, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, l := range links {
		if ctx.Err() != nil {
			break
		}
		work <- l
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		broken = append(broken, fmt.Sprintf("verification cut short: %v", errors.Unwrap(ctx.Err())))
	}
	return broken
}

// IdleConnTimeout is how long the load's clients keep an idle connection.
const IdleConnTimeout = time.Second

// NoRedirects is a client for Follow and Verify: a redirect is the answer
// under test, not something to follow.
func NoRedirects(timeout time.Duration, maxConns int) *http.Client {
	// Idle connections are dropped well before a proxy's keep-alive timeout
	// (HAProxy's in the local stack: 5s). Otherwise a request can be sent on
	// a connection the proxy is closing at that instant: an EOF that no
	// server caused, which Go does not retry for a POST.
	tr := &http.Transport{MaxIdleConns: maxConns, MaxIdleConnsPerHost: maxConns, IdleConnTimeout: IdleConnTimeout}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
