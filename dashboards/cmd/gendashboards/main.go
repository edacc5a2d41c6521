// Command gendashboards writes the dashboards defined in dashboards/board
// as the JSON files users import (run by `go generate ./dashboards`):
//
//	gendashboards [-out DIR]   write DIR/<file>.json for each dashboard (default: the working folder)
//	gendashboards -check       exit 1 naming each file that differs from the generator's output
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/obsshort/shortener/dashboards/board"
)

func main() {
	if err := run(context.Background(), os.Args, os.Stdout, os.Stderr); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "gendashboards:", msg)
		}
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".", "folder of the dashboard JSON files")
	check := fs.Bool("check", false, "write nothing; fail when a file differs from what the generator writes")
	if err := fs.Parse(args[1:]); err != nil {
		return errors.New("")
	}
	var stale []string
	for _, b := range board.All() {
		want, err := board.JSON(b)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, b.File)
		if *check {
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
				stale = append(stale, path)
			}
			continue
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", path, len(want))
	}
	if len(stale) > 0 {
		return fmt.Errorf("out of date, run go generate ./dashboards: %v", stale)
	}
	return nil
}
