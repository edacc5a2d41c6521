package gate

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Print writes the outcome of a simulation.
func (r SimResult) Print(w io.Writer, alphaCheck float64) {
	p := r.Params
	n := len(r.Runs)
	fmt.Fprintf(w, "simulated traffic: %g rps, canary share %.3g%%, 5xx baseline %.3g%% canary %.3g%%, burst CV %g, latency median baseline %gs canary %gs\n",
		p.RPS, 100*p.CanaryShare, 100*p.BaselineErrorRate, 100*p.CanaryErrorRate, p.BurstCV, p.BaselineLatency, p.CanaryLatency)
	var extra []string
	if p.BadRouteErrorRate > 0 {
		extra = append(extra, fmt.Sprintf("route /{code}/qr (1%% of traffic) fails %.3g%% on the canary", 100*p.BadRouteErrorRate))
	}
	if p.CanaryNotFound != p.BaselineNotFound {
		extra = append(extra, fmt.Sprintf("404 on redirects baseline %.3g%% canary %.3g%%", 100*p.BaselineNotFound, 100*p.CanaryNotFound))
	}
	if p.LBFailRate > 0 {
		extra = append(extra, fmt.Sprintf("%.3g%% of canary attempts fail at the load balancer only", 100*p.LBFailRate))
	}
	if p.CanaryRestartAt > 0 {
		extra = append(extra, "canary restarts (counter reset) at "+p.CanaryRestartAt.String())
	}
	if p.CanaryVanishAt > 0 {
		extra = append(extra, "canary killed at "+p.CanaryVanishAt.String())
	}
	if p.MissedScrapes > 0 {
		extra = append(extra, fmt.Sprintf("%.3g%% of scrapes fail", 100*p.MissedScrapes))
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, "  %s\n", strings.Join(extra, "; "))
	}
	fmt.Fprintf(w, "analysis: scrape every %s, poll every %s for up to %s, %d runs, seed %d, alpha per check %.4g\n",
		p.ScrapeInterval, p.Interval, p.MaxDuration, n, p.Seed, alphaCheck)
	fails, passes := r.Count(Fail, 0), r.Count(Pass, 0)
	fmt.Fprintf(w, "  fail %6.2f%% (%d)   pass %6.2f%% (%d)   inconclusive %6.2f%% (%d)\n",
		pct(fails, n), fails, pct(passes, n), passes, pct(n-fails-passes, n), n-fails-passes)
	if p.Deadline > 0 {
		from := p.CanaryVanishAt
		within := 0
		for _, run := range r.Runs {
			if run.Outcome == Fail && run.At-from <= p.Deadline {
				within++
			}
		}
		fmt.Fprintf(w, "  failed within %s%s: %.2f%% (%d)\n", p.Deadline, map[bool]string{true: " of the kill", false: ""}[from > 0], pct(within, n), within)
	}
	for _, o := range []Outcome{Fail, Pass} {
		var ts []time.Duration
		for _, run := range r.Runs {
			if run.Outcome == o {
				ts = append(ts, run.At)
			}
		}
		if len(ts) > 0 {
			fmt.Fprintf(w, "  time to %-4s p50 %s  p90 %s  p99 %s  max %s\n", o, quantile(ts, 0.5), quantile(ts, 0.9), quantile(ts, 0.99), quantile(ts, 1))
		}
	}
	if by := r.failedFirstBy(); by != "" {
		fmt.Fprintf(w, "  failed first by %s\n", by)
	}
}

func (r SimResult) failedFirstBy() string {
	reasons := map[string]int{}
	for _, run := range r.Runs {
		if run.Outcome == Fail {
			reasons[firstCheck(run.Reason)]++
		}
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d  ", k, reasons[k])
	}
	return strings.TrimSpace(b.String())
}

// firstCheck names the check that failed a run, from its reason.
func firstCheck(reason string) string {
	for _, pre := range []string{"regression shown: ", "canary vanished"} {
		if s, ok := strings.CutPrefix(reason, pre); ok {
			if pre == "canary vanished" {
				return "presence"
			}
			if i := strings.IndexByte(s, ':'); i > 0 {
				return s[:i]
			}
		}
	}
	return "?"
}

func pct(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
