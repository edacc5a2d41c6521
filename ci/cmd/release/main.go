// Command release runs the local production stack and the release pipeline:
//
//	release stack up|down|status      the stack: Prometheus, Pushgateway, HAProxy, stable app (package ci/stack)
//	release release --version V       build, test, smoke, preflight, canary, gate, promote or roll back (package ci/release)
//	release rollback                  roll back a canary an interrupted release left deployed
//	release replay-incident           the incident replayed under load: a bad v2 is rolled back, a good one promoted (ci/release/replay)
//
// Exit codes of `release release`: 0 promoted, 1 rolled back, 2 blocked
// before deploy, 3 pipeline error. See ci/README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "release:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(3)
	}
}
