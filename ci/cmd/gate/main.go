// Command gate is the canary gate CI runs after a canary deploy: it decides
// pass, fail or inconclusive from Prometheus. See ci/gate/README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/obsshort/shortener/ci/gate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := gate.Run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
