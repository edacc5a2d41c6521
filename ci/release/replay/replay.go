// Package replay replays the incident on the local stack: steady user
// traffic through HAProxy while a version that fails 30% of its requests is
// released (the gate must fail it and the pipeline roll it back, with users
// barely noticing and nothing lost), then a healthy version is released and
// promoted without a single failed request.
package replay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/obsshort/shortener/ci/release"
	pm "github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/ci/stack"
	"github.com/obsshort/shortener/internal/loadgen"
)

// Options of a replay.
type Options struct {
	RPS            float64
	CreateShare    float64
	FaultErrorRate float64
	BadVersion     string
	GoodVersion    string
	KilledVersion  string
	// KillAfter: how long after the killed version's canary is deployed
	// it is killed (SIGKILL), so that it dies during the analysis.
	KillAfter        time.Duration
	Settle           time.Duration // steady load before and after each release
	RollbackDeadline time.Duration
	MaxErrorShare    float64
	// Release holds the pipeline settings used for both releases (version
	// and fault rate are set per scenario).
	Release release.Options
}

// Check is one verified claim.
type Check struct {
	Name   string
	Pass   bool
	Detail string
}

// Report is the outcome of a replay.
type Report struct {
	Checks []Check
	Bad    release.Result
	Killed release.Result
	Good   release.Result
	// BadWindow and GoodWindow are the user-side counts of each scenario.
	BadWindow, GoodWindow loadgen.Counts
	LinksCreated          int
}

// checker returns a function that records a check in list and prints it
// as PASS or FAIL with its detail.
func checker(list *[]Check, say func(string, ...any)) func(name string, pass bool, format string, a ...any) {
	return func(name string, pass bool, format string, a ...any) {
		c := Check{Name: name, Pass: pass, Detail: fmt.Sprintf(format, a...)}
		*list = append(*list, c)
		verdict := "PASS"
		if !pass {
			verdict = "FAIL"
		}
		say("%s  %s: %s", verdict, name, c.Detail)
	}
}

// tally says how many of the checks passed.
func tally(checks []Check) string {
	n := 0
	for _, c := range checks {
		if c.Pass {
			n++
		}
	}
	return fmt.Sprintf("%d of %d checks passed", n, len(checks))
}

// Passed reports whether every check passed.
func (r Report) Passed() bool {
	if len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

// Run plays both scenarios against a running stack and prints each check.
// The error is for a replay that could not run at all; failed checks are
// in the report.
func Run(ctx context.Context, cfg stack.Config, o Options, stdout, stderr io.Writer) (Report, error) {
	var rep Report
	dep, err := cfg.LoadDeployment()
	if err != nil {
		return rep, err
	}
	if dep.Stable == nil {
		return rep, fmt.Errorf("no stable deployment in %s: run `release stack up` first", cfg.StateDir)
	}
	if _, ok := cfg.InstancePID(*dep.Stable); !ok {
		return rep, fmt.Errorf("stable %s is not running: run `release stack up` first", dep.Stable.Version)
	}
	oldVersion := dep.Stable.Version
	stamp := time.Now().Format("150405")
	if o.BadVersion == "" {
		o.BadVersion = "v2-bad-" + stamp
	}
	if o.GoodVersion == "" {
		o.GoodVersion = "v2-" + stamp
	}
	if o.KilledVersion == "" {
		o.KilledVersion = "v2-killed-" + stamp
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	check := checker(&rep.Checks, say)

	gen, err := loadgen.New(loadgen.Config{BaseURL: cfg.ProxyURL(), RPS: o.RPS, CreateShare: o.CreateShare})
	if err != nil {
		return rep, err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); gen.Run(loadCtx) }()
	stop := func() { stopLoad(); wg.Wait() }
	defer stop()
	ha := stack.HAProxy{Socket: cfg.Socket()}
	haBefore, _ := ha.Stats(ctx)

	say("=== replay: stable %s, %v user requests/s through %s (%.0f%% creations)", oldVersion, o.RPS, release.RedactURL(cfg.ProxyURL()), o.CreateShare*100)
	say("=== scenario 1: release %s, which answers 500 to %.0f%% of its requests", o.BadVersion, o.FaultErrorRate*100)
	if err := sleep(ctx, o.Settle); err != nil {
		return rep, err
	}
	p := &release.Pipeline{Stack: cfg, Out: indent(stdout), Err: stderr}
	bad := o.Release
	bad.Version, bad.FaultErrorRate = o.BadVersion, o.FaultErrorRate
	rep.Bad = p.Run(ctx, bad)
	if err := sleep(ctx, o.Settle); err != nil {
		return rep, err
	}
	rep.BadWindow = gen.Counts()
	haAfter, _ := ha.Stats(ctx)
	say("users during scenario 1: %s", rep.BadWindow)
	// What the canary itself answered (its own metrics; a version name is
	// used once, so the counters' maxima are its totals), against what
	// users got after HAProxy's retries.
	served := func(status string) float64 {
		q := fmt.Sprintf(`sum(max_over_time(http_server_request_duration_seconds_count{job="shortener",version=%q,http_response_status_code=~%q}[15m]))`, o.BadVersion, status)
		s, err := cfg.Query(ctx, q)
		if err != nil || len(s) == 0 {
			return -1
		}
		return s[0].Value
	}
	say("  the bad canary answered %.0f requests, %.0f of them 5xx; HAProxy retried %d requests on another server (GET only, never a creation)",
		served(".*"), served("5.."), statDelta(haBefore, haAfter, stack.Backend+"/BACKEND", "wretr")+statDelta(haBefore, haAfter, stack.Backend+"/BACKEND", "wredis"))

	exposed := rep.Bad.Done.Sub(rep.Bad.CanaryTraffic)
	check("gate failed the bad canary and it was rolled back within "+o.RollbackDeadline.String(),
		rep.Bad.Outcome == pm.OutcomeRolledBack && rep.Bad.Gate.Verdict == release.VerdictFail && !rep.Bad.CanaryTraffic.IsZero() && exposed <= o.RollbackDeadline,
		"outcome %s, gate %s, canary taking traffic to rollback done %s", rep.Bad.Outcome, rep.Bad.Gate.Verdict, exposed.Round(100*time.Millisecond))
	share := ratio(rep.BadWindow.Failed(), rep.BadWindow.Total)
	check(fmt.Sprintf("users saw a 5xx on under %.0f%% of requests", o.MaxErrorShare*100),
		rep.BadWindow.Total > 0 && share < o.MaxErrorShare,
		"%d of %d failed (%.3f%%)", rep.BadWindow.Failed(), rep.BadWindow.Total, share*100)
	links := gen.Links()
	broken := gen.Verify(ctx, links)
	check("every link created during the scenario resolves", len(links) > 0 && len(broken) == 0,
		"%d links created, %d broken%s", len(links), len(broken), firstOf(broken))
	v, err := servedVersion(ctx, cfg)
	check("stable still serves "+oldVersion, err == nil && v == oldVersion, "shortener_build_info on the stable admin port: version=%q %v", v, errOrEmpty(err))
	ok, detail := pushgatewayHas(ctx, cfg, o.BadVersion, pm.OutcomeRolledBack)
	check("pushgateway holds outcome rolled_back for "+o.BadVersion, ok, "%s", detail)

	if o.KillAfter > 0 {
		say("=== scenario 2: release %s, healthy, but its process is killed %s after it is deployed (during the analysis)", o.KilledVersion, o.KillAfter)
		killed := o.Release
		killed.Version, killed.FaultErrorRate = o.KilledVersion, 0
		kctx, kcancel := context.WithCancel(ctx)
		done := make(chan killResult, 1)
		go func() { done <- killCanary(kctx, cfg, o.KilledVersion, o.KillAfter) }()
		rep.Killed = p.Run(ctx, killed)
		kcancel()
		k := <-done
		took := rep.Killed.CanaryOut.Sub(k.at)
		// Whichever sees it first fails it: the load balancer's refused
		// connections, or the presence check (target down, series stale).
		check("the killed canary was failed within 30s of the kill and rolled back, never promoted",
			k.err == nil && rep.Killed.Outcome == pm.OutcomeRolledBack && rep.Killed.Gate.Verdict == release.VerdictFail &&
				took > 0 && took <= 30*time.Second,
			"kill %v (pid %d), outcome %s, gate %s, kill to rollback %s: %s", errOrEmpty(k.err), k.pid, rep.Killed.Outcome, rep.Killed.Gate.Verdict, took.Round(100*time.Millisecond), firstLine(rep.Killed.Gate.Summary))
		v, err := servedVersion(ctx, cfg)
		check("stable still serves "+oldVersion, err == nil && v == oldVersion, "version=%q %v", v, errOrEmpty(err))
	}

	say("=== scenario 3: release %s, healthy", o.GoodVersion)
	before := gen.Counts()
	good := o.Release
	good.Version, good.FaultErrorRate = o.GoodVersion, 0
	rep.Good = p.Run(ctx, good)
	if err := sleep(ctx, o.Settle); err != nil {
		return rep, err
	}
	rep.GoodWindow = gen.Counts().Sub(before)
	say("users during the healthy release: %s", rep.GoodWindow)
	check("healthy "+o.GoodVersion+" promoted", rep.Good.Outcome == pm.OutcomePromoted && rep.Good.ExitCode == release.ExitPromoted,
		"outcome %s (exit %d), gate %s", rep.Good.Outcome, rep.Good.ExitCode, rep.Good.Gate.Verdict)
	check("zero failed user requests during the switch", rep.GoodWindow.Total > 0 && rep.GoodWindow.Failed() == 0,
		"%d of %d failed", rep.GoodWindow.Failed(), rep.GoodWindow.Total)
	v, err = servedVersion(ctx, cfg)
	check("stable now serves "+o.GoodVersion, err == nil && v == o.GoodVersion, "version=%q %v", v, errOrEmpty(err))

	stop()
	links = gen.Links()
	rep.LinksCreated = len(links)
	broken = gen.Verify(ctx, links)
	check("every link created in all scenarios resolves", len(links) > 0 && len(broken) == 0,
		"%d links created, %d broken%s", len(links), len(broken), firstOf(broken))
	if last := gen.LastError(); last != "" {
		say("  last transport error seen by the load: %s", last)
	}
	say("=== replay: %s", tally(rep.Checks))
	return rep, nil
}

type killResult struct {
	at  time.Time
	pid int
	err error
}

// killCanary waits until version is deployed as the canary, then after
// the delay kills its process outright (no drain: a crash).
func killCanary(ctx context.Context, cfg stack.Config, version string, after time.Duration) killResult {
	for {
		dep, err := cfg.LoadDeployment()
		if err == nil && dep.Canary != nil && dep.Canary.Version == version {
			if pid, ok := cfg.InstancePID(*dep.Canary); ok {
				if err := sleep(ctx, after); err != nil {
					return killResult{err: fmt.Errorf("not killed: %w", err)}
				}
				return killResult{at: time.Now(), pid: pid, err: syscall.Kill(pid, syscall.SIGKILL)}
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return killResult{err: fmt.Errorf("canary %s never deployed: %w", version, err)}
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// servedVersion reads shortener_build_info's version label from the
// stable instance's admin /metrics.
func servedVersion(ctx context.Context, cfg stack.Config) (string, error) {
	dep, err := cfg.LoadDeployment()
	if err != nil {
		return "", err
	}
	if dep.Stable == nil {
		return "", fmt.Errorf("no stable deployment")
	}
	return buildInfoVersion(ctx, "http://"+dep.Stable.AdminAddr+"/metrics")
}

func buildInfoVersion(ctx context.Context, url string) (string, error) {
	lines, err := getLines(ctx, url)
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "shortener_build_info{") {
			if v, ok := label(l, "version"); ok {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("no shortener_build_info at %s", url)
}

// pushgatewayHas looks for release_info{version=v, outcome=o} in the
// Pushgateway's exposition.
func pushgatewayHas(ctx context.Context, cfg stack.Config, version, outcome string) (bool, string) {
	lines, err := getLines(ctx, cfg.PushgatewayURL()+"/metrics")
	if err != nil {
		return false, err.Error()
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, pm.Info+"{") {
			continue
		}
		v, _ := label(l, pm.LabelVersion)
		out, _ := label(l, pm.LabelOutcome)
		job, _ := label(l, "job")
		if v == version && out == outcome && job == pm.JobName {
			return true, l
		}
	}
	return false, fmt.Sprintf("no %s{job=%q,version=%q,outcome=%q} on the pushgateway", pm.Info, pm.JobName, version, outcome)
}

// getTimeout bounds one read of a /metrics page: a hung endpoint fails
// its check instead of holding the replay.
const getTimeout = 5 * time.Second

func getLines(ctx context.Context, url string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: bad URL", release.RedactURL(url))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err // net/http hides the password in its errors
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", release.RedactURL(url), resp.Status)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// label extracts name="value" from an exposition line such as
// release_info{job="release",outcome="promoted",version="v2"} 1. Versions,
// outcomes and jobs never hold quotes or commas, so splitting suffices.
func label(line, name string) (string, bool) {
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return "", false
	}
	for _, pair := range strings.Split(line[open+1:end], ",") {
		k, v, ok := strings.Cut(pair, "=")
		if ok && k == name {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

func statDelta(before, after map[string]map[string]string, row, col string) int {
	a, errA := strconv.Atoi(after[row][col])
	b, errB := strconv.Atoi(before[row][col])
	if errA != nil {
		return -1
	}
	if errB != nil {
		b = 0
	}
	return a - b
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return "; first: " + s[0]
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// indent prefixes the pipeline's lines so the replay's own stand out.
func indent(w io.Writer) io.Writer { return &prefixWriter{w: w, prefix: "  | ", bol: true} }

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
			p.bol = false
		}
		out = append(out, c)
		if c == '\n' {
			p.bol = true
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
