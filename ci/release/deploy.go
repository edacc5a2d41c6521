package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/obsshort/shortener/ci/stack"
)

// setShare gives the canary pct percent of new requests, beside however
// many stable replicas run (stack.HAProxy.SetCanaryShare).
func setShare(ctx context.Context, ha stack.HAProxy, pct int) error {
	return ha.SetCanaryShare(ctx, pct)
}

// serveFrom points HAProxy's server at the process in the named slot,
// enables its health checks and waits until HAProxy sees it up: only then
// may it be given traffic. Its weight is left as it is.
func serveFrom(ctx context.Context, c stack.Config, ha stack.HAProxy, server, slotName string) error {
	slot, err := c.SlotByName(slotName)
	if err != nil {
		return err
	}
	if err := ha.Point(ctx, server, slot); err != nil {
		return err
	}
	if err := ha.SetState(ctx, server, "ready"); err != nil {
		return err
	}
	return ha.WaitUp(ctx, server, 20*time.Second)
}

// startCanary starts the new version beside stable on the shared database,
// registers it for scraping, waits until Prometheus sees it, then lets
// HAProxy health-check it and gives it its first share.
func (p *Pipeline) startCanary(ctx context.Context, ha stack.HAProxy, dep *stack.Deployment, inst stack.Instance, pct int, res *Result) (string, error) {
	c := p.Stack
	pid, err := c.StartInstance(ctx, inst)
	if err != nil {
		return "", err
	}
	dep.Canary = &inst
	if err := c.SaveDeployment(*dep); err != nil {
		return "", err
	}
	p.say("    started pid %d on %s (admin %s), fault injection: %s", pid, inst.Addr, inst.AdminAddr, inst.Fault)
	if err := c.Register(inst); err != nil {
		return "", err
	}
	if err := c.WaitScraped(ctx, inst, 30*time.Second); err != nil {
		return "", err
	}
	p.say("    prometheus scrapes it as track=%q version=%q", inst.Track, inst.Version)
	if err := ha.SetWeight(ctx, stack.ServerCanary, 0); err != nil {
		return "", err
	}
	if err := serveFrom(ctx, c, ha, stack.ServerCanary, inst.Slot); err != nil {
		return "", err
	}
	if err := setShare(ctx, ha, pct); err != nil {
		return "", err
	}
	res.CanaryTraffic = time.Now()
	return fmt.Sprintf("haproxy: canary takes %d%% of requests (beside %d stable replica(s))", pct, c.StableReplicas()), nil
}

// rollback takes the canary out of rotation, lets it drain and stop, and
// removes it from discovery and the deployment. Stable is left as it is
// (its weight goes back to 100). Safe to call when the canary only half
// started.
func (p *Pipeline) rollback(ctx context.Context, ha stack.HAProxy, dep *stack.Deployment, res *Result) (string, error) {
	c := p.Stack
	var errs []error
	// Stable first: with canary at 0 and stable still lowered, HAProxy
	// would still have a server, but users should get the full stable now.
	if err := ha.SetWeight(ctx, stack.ServerStable, 100); err != nil {
		errs = append(errs, err)
	}
	if err := ha.SetWeight(ctx, stack.ServerCanary, 0); err != nil {
		errs = append(errs, err)
	}
	res.CanaryOut = time.Now()
	if dep.Canary != nil {
		// Requests already on the canary finish before it stops.
		_ = ha.WaitIdle(ctx, stack.ServerCanary, 10*time.Second)
		if err := c.StopInstance(ctx, *dep.Canary); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ha.SetState(ctx, stack.ServerCanary, "maint"); err != nil {
		errs = append(errs, err)
	}
	if err := c.Deregister(stack.TrackCanary); err != nil {
		errs = append(errs, err)
	}
	res.Done = time.Now()
	dep.Canary = nil
	if err := c.SaveDeployment(*dep); err != nil {
		errs = append(errs, err)
	}
	exposed := ""
	if !res.CanaryTraffic.IsZero() {
		exposed = fmt.Sprintf("; canary had traffic for %s", res.CanaryOut.Sub(res.CanaryTraffic).Round(100*time.Millisecond))
	}
	return "canary stopped and deregistered" + exposed, errors.Join(errs...)
}

// promote shifts all traffic to the canary, retires the old stable, and
// swaps the names: the new process becomes track=stable in discovery and
// is served by HAProxy's "stable" server, leaving "canary" free.
func (p *Pipeline) promote(ctx context.Context, ha stack.HAProxy, dep *stack.Deployment, res *Result) (string, error) {
	c := p.Stack
	old, next := *dep.Stable, *dep.Canary
	// The new version runs as many replicas as the stable it replaces
	// before that one goes.
	if n := c.StableReplicas(); n > 1 {
		var err error
		if next, err = c.ScaleInstance(ctx, next, n); err != nil {
			return "", fmt.Errorf("scale %s to %d replicas: %w", next.Version, n, err)
		}
		p.say("    %s scaled to %d replicas", next.Version, n)
	}
	if err := setShare(ctx, ha, 100); err != nil {
		return "", err
	}
	res.CanaryOut = time.Now()
	// Requests already on the old stable finish; then it drains and exits.
	_ = ha.WaitIdle(ctx, stack.ServerStable, 10*time.Second)
	if err := c.StopInstance(ctx, old); err != nil {
		return "", fmt.Errorf("stop old stable %s: %w", old.Version, err)
	}
	res.Done = time.Now()
	p.say("    old stable %s stopped", old.Version)

	// Relabel in discovery: the same process, now track=stable.
	next.Track = stack.TrackStable
	if err := c.Register(next); err != nil {
		return "", err
	}
	if err := c.Deregister(stack.TrackCanary); err != nil {
		return "", err
	}
	dep.Stable, dep.Canary = &next, nil
	if err := c.SaveDeployment(*dep); err != nil {
		return "", err
	}

	// Swap HAProxy's slots: "stable" points at the new process, is checked
	// up, and takes the traffic; "canary" goes back to maintenance. Both
	// servers point at the same process in between, so no request fails.
	if err := serveFrom(ctx, c, ha, stack.ServerStable, next.Slot); err != nil {
		return "", err
	}
	if err := ha.SetWeight(ctx, stack.ServerStable, 100); err != nil {
		return "", err
	}
	if err := ha.SetWeight(ctx, stack.ServerCanary, 0); err != nil {
		return "", err
	}
	_ = ha.WaitIdle(ctx, stack.ServerCanary, 10*time.Second)
	if err := ha.SetState(ctx, stack.ServerCanary, "maint"); err != nil {
		return "", err
	}
	if err := c.WaitScraped(ctx, next, 30*time.Second); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s is stable on slot %s; %s retired", next.Version, next.Slot, old.Version), nil
}
