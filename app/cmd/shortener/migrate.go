package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/obsshort/shortener/app/migration"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/telemetry"
)

// runMigrate is `shortener migrate`: it applies the expand steps (what
// every start does) and prints the schema's state; with --contract it also
// applies the contract steps, the destructive half of a release's schema
// change, which must wait until the release is promoted and no process of
// the previous release uses the database. On PostgreSQL it refuses while a
// replica of another release is connected, unless --force.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("shortener migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := &config{}
	fs.StringVar(&cfg.DB, "db", "./data/shortener.db", "SQLite file or postgres:// URL (env SHORTENER_DB)")
	fs.DurationVar(&cfg.DBTimeout, "db-timeout", 30*time.Second, "PostgreSQL: bound on each database call")
	contract := fs.Bool("contract", false, "also apply the contract (destructive) steps; only after the new release is promoted")
	force := fs.Bool("force", false, "PostgreSQL: contract although replicas of another release are connected")
	if v := getenv("SHORTENER_DB"); v != "" {
		cfg.DB = v
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: shortener migrate [--contract] [--force] [--db FILE|postgres://...]\n\n")
			fmt.Fprintf(stdout, "Applies the expand steps (every start does too) and shows the schema's state.\n")
			fmt.Fprintf(stdout, "--contract also applies the contract steps: run it after a release is promoted,\n")
			fmt.Fprintf(stdout, "once no process of the previous release uses the database.\n\n")
			fs.VisitAll(func(f *flag.Flag) {
				fmt.Fprintf(stdout, "  --%s (default %q)\n      %s\n", f.Name, f.DefValue, f.Usage)
			})
			return errHelp
		}
		return fmt.Errorf("migrate: %w (see shortener migrate --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q (see shortener migrate --help)", fs.Arg(0))
	}
	cfg.Readers, cfg.DBPool = 1, 2
	if kindOf(cfg.DB).postgres {
		if err := postgres.CheckURL(cfg.DB); err != nil {
			return fmt.Errorf("--db %s: %v", postgres.Redact(cfg.DB), err)
		}
	}
	version, _ := telemetry.RegisterBuildInfo(telemetry.NewRegistry())
	db, err := openDatabase(ctx, cfg, version)
	if err != nil {
		return err
	}
	defer db.Close()
	if *contract {
		if pg, ok := db.(*postgres.DB); ok && !*force {
			others, err := otherReleases(ctx, pg, version)
			if err != nil {
				return err
			}
			if len(others) > 0 {
				return fmt.Errorf("migrate --contract: processes of other releases are connected (%s); stop them first (or --force if they are this release under another name)", strings.Join(others, ", "))
			}
		}
		done, err := db.MigrateContract(ctx)
		if err != nil {
			return fmt.Errorf("migrate --contract: %w", err)
		}
		if len(done) == 0 {
			fmt.Fprintln(stdout, "contract: nothing to apply")
		} else {
			fmt.Fprintf(stdout, "contract: applied %s\n", strings.Join(done, ", "))
		}
	}
	return printSchema(ctx, db, stdout)
}

// otherReleases lists connected shortener processes of another release.
func otherReleases(ctx context.Context, pg *postgres.DB, version string) ([]string, error) {
	names, err := pg.OtherClients(ctx, "shortener ")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.TrimSuffix(n, postgres.ListenSuffix) != appName(version) {
			out = append(out, n)
		}
	}
	return out, nil
}

// printSchema writes one line per step this build knows: applied or pending.
func printSchema(ctx context.Context, db database, w io.Writer) error {
	var steps []migration.Step
	var err error
	if _, ok := db.(*postgres.DB); ok {
		steps, err = postgres.Steps()
	} else {
		steps, err = sqlite.Steps()
	}
	if err != nil {
		return err
	}
	applied, err := db.Migrations(ctx)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, s := range steps {
		state := "applied"
		if !done[s.Version] {
			state = "pending (runs with migrate --contract)"
		}
		fmt.Fprintf(w, "%-9s %-32s %s\n", s.Kind, s.Version, state)
	}
	return nil
}
