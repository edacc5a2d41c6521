package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/obsshort/shortener/ci/stack"
)

// SetStableFault replaces the stable's processes with the same version and
// binary started with fault injection f (a zero f: none), for game days:
// the incident replay gives stable a base error rate this way, so that a
// canary with twice as many errors has something to be compared against.
// It goes blue-green through the canary slot exactly like a promotion
// (start beside, Prometheus scrapes it, HAProxy checks it, traffic moves,
// the old processes drain and stop), but with no build, tests or gate:
// the code does not change. The game-day stable carries the target label
// stack.FaultLabel, so its errors do not spend the error budget that
// freezes releases (stableBudgetQuery).
func (p *Pipeline) SetStableFault(ctx context.Context, f stack.Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	c := p.Stack
	dep, err := c.LoadDeployment()
	if err != nil {
		return err
	}
	switch {
	case dep.Stable == nil:
		return errors.New("no stable deployment: run `release stack up` first")
	case dep.Canary != nil:
		return fmt.Errorf("canary %s is deployed: a release is running", dep.Canary.Version)
	}
	if _, ok := c.InstancePID(*dep.Stable); !ok {
		return fmt.Errorf("stable %s is not running: run `release stack up`", dep.Stable.Version)
	}
	next, err := c.NewInstance(stack.TrackCanary, dep.Stable.Version, c.OtherSlot(dep.Stable.Slot).Name, dep.Stable.Binary)
	if err != nil {
		return err
	}
	next.Fault = f
	ha := stack.HAProxy{Socket: c.Socket()}
	var res Result
	t0 := time.Now()
	if _, err := p.startCanary(ctx, ha, &dep, next, 50, &res); err != nil {
		// Whatever started goes again; stable was never touched.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if _, rerr := p.rollback(cctx, ha, &dep, &res); rerr != nil {
			err = fmt.Errorf("%w (and its cleanup: %v)", err, rerr)
		}
		return fmt.Errorf("start %s with fault injection %s: %w", next.Version, f, err)
	}
	detail, err := p.promote(ctx, ha, &dep, &res)
	if err != nil {
		return fmt.Errorf("switch to %s with fault injection %s: %w", next.Version, f, err)
	}
	p.say("    stable %s now runs with fault injection: %s (%s; switched in %s)", next.Version, f, detail, time.Since(t0).Round(100*time.Millisecond))
	return nil
}
