package release

import (
	"time"
)

// summaryTook prints the one-screen summary of a run.
func (p *Pipeline) summaryTook(res Result, took time.Duration) {
	p.say("──────── release %s: %s (exit %d) in %s ────────", res.Version, res.Outcome, res.ExitCode, took.Round(100*time.Millisecond))
	for _, s := range res.Stages {
		d := ""
		if s.Duration > 0 {
			d = s.Duration.Round(10 * time.Millisecond).String()
		}
		p.say("  %-10s %-8s %8s  %s", s.Name, s.Result, d, s.Detail)
	}
	if !res.CanaryTraffic.IsZero() && !res.CanaryOut.IsZero() {
		p.say("  canary traffic: %s from first share to weight change", res.CanaryOut.Sub(res.CanaryTraffic).Round(100*time.Millisecond))
	}
	if !res.CanaryTraffic.IsZero() && !res.Done.IsZero() {
		p.say("  done %s after the canary took traffic", res.Done.Sub(res.CanaryTraffic).Round(100*time.Millisecond))
	}
	if res.Err != nil {
		p.say("  error: %s", firstLine(res.Err.Error()))
	}
}

// summary prints a summary for a run that could not start.
func (p *Pipeline) summary(res Result) { p.summaryTook(res, 0) }
