// Command repocheck fails when the repository tracks a large file or a
// compiled executable (see package repocheck). `make lint` runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/obsshort/shortener/ci/repocheck"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "repocheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	dir := "."
	switch len(args) {
	case 0:
	case 1:
		dir = args[0]
	default:
		return fmt.Errorf("usage: repocheck [repository folder]")
	}
	findings, err := repocheck.Check(ctx, dir)
	if err != nil {
		return err
	}
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	if len(findings) > 0 {
		return fmt.Errorf("%d tracked file(s) must leave git: remove them with `git rm --cached` and add them to .gitignore", len(findings))
	}
	return nil
}
