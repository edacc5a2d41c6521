// Command baseline is the benchmark's ceiling: a minimal net/http server
// answering GET /<code> with a 302 from an in-memory map, and nothing else
// (no router, no metrics, no logs, no database). The shortener's redirect
// throughput is reported as a share of this server's, measured in the same
// run on the same cores.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/obsshort/shortener/bench/linkset"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	links := fs.Int("links", 10_000, "links held in memory (the codes the harness's load uses)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets := make(map[string]string, *links)
	for i := range *links {
		targets[linkset.Code(i)] = linkset.URL(i)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		u, ok := targets[r.URL.Path[1:]]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// http.Redirect, as the shortener uses, so both answer the same bytes.
		http.Redirect(w, r, u, http.StatusFound)
	})}
	fmt.Fprintf(stdout, "baseline listening on %s with %d links\n", ln.Addr(), *links)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
}
