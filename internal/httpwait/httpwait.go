// Package httpwait waits for an HTTP endpoint to answer 200, as the stack,
// the pipeline's smoke test, the benchmark harness and tests all do when they
// start a process and wait for its /readyz.
package httpwait

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// pollInterval is short: a starting shortener is ready within tens of ms.
const pollInterval = 50 * time.Millisecond

// UntilOK polls url until it answers 200, and fails once timeout passes, ctx
// ends, or dead (if not nil) reports an error, such as the process having
// exited. The error says what the last attempt saw.
func UntilOK(ctx context.Context, url string, timeout time.Duration, dead func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if dead != nil {
			if err := dead(); err != nil {
				return fmt.Errorf("%s: %w before it was ready (last: %s)", url, err, last)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %s", url, timeout, last)
		case <-time.After(pollInterval):
		}
	}
}
