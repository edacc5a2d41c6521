package gate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
)

// PreflightResult says whether a deploy may start, and why not.
type PreflightResult struct {
	Blocked bool
	Reasons []string // why it is blocked
	Notes   []string // what was checked and found fine
}

func runPreflight(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gate preflight", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f commonFlags
	f.register(fs)
	var selector, alertRegex, budgetQuery string
	fs.StringVar(&selector, "selector", "", `label matchers of the service, e.g. job="shortener" (substituted for {{.Selector}})`)
	fs.StringVar(&alertRegex, "alert-name-regex", "", "block while an alert whose name matches fires")
	fs.StringVar(&budgetQuery, "budget-query", "", "PromQL giving the share of the 30-day error budget spent")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	cfg, err := f.load(fs)
	if err != nil {
		return usageErr(stderr, err)
	}
	warnPasswordInArgv(stderr, "--prometheus", f.prometheus)
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "selector":
			cfg.Preflight.Selector = selector
		case "alert-name-regex":
			cfg.Preflight.AlertNameRegex = alertRegex
		case "budget-query":
			cfg.Preflight.BudgetQuery = budgetQuery
		}
	})
	if err := cfg.ValidatePreflight(); err != nil {
		return usageErr(stderr, err)
	}
	client, err := newPromClient(cfg.Prometheus, getenv)
	if err != nil {
		return usageErr(stderr, err)
	}
	res, err := Preflight(ctx, cfg, client)
	if err != nil {
		return usageErr(stderr, err)
	}
	if res.Blocked {
		fmt.Fprintf(stdout, "preflight: BLOCKED (exit 2): do not deploy\n")
		for _, r := range res.Reasons {
			fmt.Fprintf(stdout, "  blocked: %s\n", r)
		}
	} else {
		fmt.Fprintf(stdout, "preflight: clear to deploy\n")
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stdout, "  ok: %s\n", n)
	}
	if res.Blocked {
		return ExitInconclusive
	}
	return ExitPass
}

// Preflight checks for firing SLO alerts and a spent error budget. Failing
// to reach Prometheus blocks: a deploy must not go out blind. Its error is
// a configuration error (a query Prometheus refuses).
func Preflight(ctx context.Context, cfg Config, c *promclient.Client) (PreflightResult, error) {
	var res PreflightResult
	p := cfg.Preflight
	now := time.Now()
	sel := normalizeSelector(p.Selector)
	unreachable := func(err error) (PreflightResult, error) {
		if errors.Is(err, errBadQuery) {
			return res, err
		}
		res.Blocked = true
		res.Reasons = append(res.Reasons, fmt.Sprintf("cannot query Prometheus at %s, so the service's health is unknown: %v", promclient.RedactURL(cfg.Prometheus.URL), err))
		return res, nil
	}

	var parts []string
	if p.AlertNameRegex != "" {
		parts = append(parts, fmt.Sprintf(`ALERTS{%s}`, joinMatchers(`alertstate="firing"`, fmt.Sprintf("alertname=~%q", p.AlertNameRegex), sel)))
	}
	if p.AlertMatchers != "" {
		parts = append(parts, fmt.Sprintf(`ALERTS{%s}`, joinMatchers(`alertstate="firing"`, normalizeSelector(p.AlertMatchers), sel)))
	}
	if len(parts) > 0 {
		q := strings.Join(parts, " or ")
		vec, err := c.Vector(ctx, q, now)
		if err != nil {
			return unreachable(err)
		}
		if len(vec) > 0 {
			var names []string
			for _, s := range vec {
				names = append(names, s.Metric.String())
			}
			sort.Strings(names)
			res.Blocked = true
			res.Reasons = append(res.Reasons, fmt.Sprintf("%d SLO alert(s) firing: %s", len(vec), strings.Join(names, ", ")))
		} else {
			res.Notes = append(res.Notes, "no SLO alert firing ("+q+")")
		}
	}

	if p.BudgetQuery != "" {
		q, err := renderQuery(p.BudgetQuery, sel, cfg.SLO.ErrorBudget)
		if err != nil {
			return res, fieldErr("preflight.budget_query", "%v", err)
		}
		vec, err := c.Vector(ctx, q, now)
		if err != nil {
			return unreachable(err)
		}
		spent := math.NaN()
		if len(vec) > 0 {
			spent = float64(vec[0].Value)
			for _, s := range vec[1:] {
				spent = math.Max(spent, float64(s.Value))
			}
		}
		switch {
		case math.IsNaN(spent) && p.BlockOnNoData:
			res.Blocked = true
			res.Reasons = append(res.Reasons, "the error budget query returned no data, and preflight.block_on_no_data is set")
		case math.IsNaN(spent):
			res.Notes = append(res.Notes, "the error budget query returned no data (no traffic in 30 days?): budget treated as unspent")
		case spent >= p.BudgetLimit:
			res.Blocked = true
			res.Reasons = append(res.Reasons, fmt.Sprintf("deploy freeze: %.0f%% of the 30-day error budget is spent (limit %.0f%%)", 100*spent, 100*p.BudgetLimit))
		default:
			res.Notes = append(res.Notes, fmt.Sprintf("%.1f%% of the 30-day error budget spent (limit %.0f%%)", 100*spent, 100*p.BudgetLimit))
		}
	}
	return res, nil
}

func joinMatchers(ms ...string) string {
	var out []string
	for _, m := range ms {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}
