package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/blocklist"
	"github.com/obsshort/shortener/app/linkfile"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/telemetry"
)

// importCodeKey names the database secret that keys the codes an import
// derives for rows without one (shared by the service and the command, so
// both derive the same code for a URL).
const importCodeKey = "import_code_key"

// transferFlags are the flags export and import share.
type transferFlags struct {
	fs     *flag.FlagSet
	cfg    *config
	format *string
}

func newTransferFlags(name, defaultFormat, formats string, getenv func(string) string) *transferFlags {
	fs := flag.NewFlagSet("shortener "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := &config{}
	fs.StringVar(&cfg.DB, "db", "./data/shortener.db", "SQLite file or postgres:// URL (env SHORTENER_DB)")
	fs.DurationVar(&cfg.DBTimeout, "db-timeout", 30*time.Second, "PostgreSQL: bound on each database call")
	format := fs.String("format", defaultFormat, formats)
	if v := getenv("SHORTENER_DB"); v != "" {
		cfg.DB = v
	}
	cfg.Readers, cfg.DBPool = 1, 2
	return &transferFlags{fs: fs, cfg: cfg, format: format}
}

// parse parses args; usage is printed for --help.
func (f *transferFlags) parse(args []string, stdout io.Writer, usage string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			f.fs.VisitAll(func(fl *flag.Flag) {
				fmt.Fprintf(stdout, "  --%s (default %q)\n      %s\n", fl.Name, fl.DefValue, fl.Usage)
			})
			return errHelp
		}
		return fmt.Errorf("%s: %w (see %s --help)", f.fs.Name(), err, f.fs.Name())
	}
	if postgres.IsURL(f.cfg.DB) {
		if err := postgres.CheckURL(f.cfg.DB); err != nil {
			return fmt.Errorf("--db %s: %v", postgres.Redact(f.cfg.DB), err)
		}
	}
	return nil
}

// runExport is `shortener export`: every link of the database, whatever
// its state, to stdout as JSON lines or CSV, read in pages so memory stays
// bounded whatever the number of links.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newTransferFlags("export", linkfile.JSONL, "jsonl or csv", getenv)
	if err := f.parse(args, stdout, "Usage: shortener export [--db FILE|postgres://...] [--format jsonl|csv] > links.jsonl\n\n"+
		"Writes every link (live, expired, disabled, deleted; password hashes, not passwords) to stdout.\n\n"); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("export: unexpected argument %q; the export goes to stdout (see shortener export --help)", f.fs.Arg(0))
	}
	w, err := linkfile.NewWriter(stdout, *f.format)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	version, _ := telemetry.RegisterBuildInfo(telemetry.NewRegistry())
	db, err := openDatabase(ctx, f.cfg, version)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &app.Service{Store: db}
	if err := svc.Export(ctx, w.Write); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	return nil
}

// runImport is `shortener import FILE`: the rows of FILE become links,
// with the rules of the API; a report says what happened to each refused
// row and how many were created, skipped (already present) or refused. It
// fails only when FILE cannot be read (or the database fails): refused
// rows are part of the report, not an error.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newTransferFlags("import", linkfile.Auto, strings.Join(linkfile.ImportFormats, ", "), getenv)
	baseURL := f.fs.String("base-url", "", "base URL of the service (env SHORTENER_BASE_URL): links to it are refused, as the API does")
	blocked := f.fs.String("blocklist-file", "", "blocked target hosts (env SHORTENER_BLOCKLIST_FILE), as the service uses")
	if v := getenv("SHORTENER_BASE_URL"); v != "" {
		*baseURL = v
	}
	if v := getenv("SHORTENER_BLOCKLIST_FILE"); v != "" {
		*blocked = v
	}
	if err := f.parse(args, stdout, "Usage: shortener import [--db FILE|postgres://...] [--format "+strings.Join(linkfile.ImportFormats, "|")+"] FILE\n\n"+
		"Imports links from FILE (- for stdin): this service's export (jsonl, csv), Shlink's CSV export, YOURLS'\n"+
		"links (its table as CSV, or the Import/Export plugin's CSV) or a plain CSV of url[,alias].\n"+
		"Running it again changes nothing. Prints each refused row with its reason, then the counts.\n\n"); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return fmt.Errorf("import: give one FILE to import (see shortener import --help)")
	}
	var in io.Reader = os.Stdin
	if name := f.fs.Arg(0); name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer file.Close()
		in = file
	}
	rd, err := linkfile.NewReader(in, *f.format)
	if err != nil {
		return fmt.Errorf("import %s: %w", f.fs.Arg(0), err)
	}
	version, _ := telemetry.RegisterBuildInfo(telemetry.NewRegistry())
	db, err := openDatabase(ctx, f.cfg, version)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := db.Secret(ctx, importCodeKey, 32)
	if err != nil {
		return err
	}
	svc := &app.Service{Store: db, CodeKey: key}
	if *baseURL != "" {
		u, err := url.Parse(*baseURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("--base-url %q: want an absolute http(s) URL", *baseURL)
		}
		svc.SelfHosts = []string{u.Host}
	}
	if *blocked != "" {
		hosts, err := blocklist.Open(*blocked, nil)
		if err != nil {
			return err
		}
		svc.Hosts = hosts
	}
	totals, err := svc.Import(ctx, rd, func(r app.ImportResult) error {
		if r.Result != app.ImportRefused {
			return nil
		}
		code := ""
		if r.Code != "" {
			code = " (code " + r.Code + ")"
		}
		_, err := fmt.Fprintf(stdout, "line %d%s: refused: %s\n", r.Line, code, r.Reason)
		return err
	})
	fmt.Fprintf(stdout, "%s: %d created, %d skipped (already present), %d refused; read as %s\n",
		f.fs.Arg(0), totals.Created, totals.Skipped, totals.Refused, rd.Format)
	if err != nil {
		return fmt.Errorf("import stopped (the rows reported above are done; run it again to go on): %w", err)
	}
	return nil
}
