package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/internal/pgtest"
)

// seed makes links in a store: plain, protected, deleted, disabled.
func seed(t *testing.T, store app.LinkStore) {
	t.Helper()
	ctx := context.Background()
	svc := &app.Service{Store: store, Passwords: app.NewPasswordHasher(app.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1})}
	for _, req := range []app.CreateRequest{
		{URL: "https://a.example/one", Alias: "one"},
		{URL: "https://b.example/two", Alias: "two", Password: "pw-12345"},
		{URL: "https://c.example/three", Alias: "three"},
		{URL: "https://d.example/four", Alias: "four"},
	} {
		if _, err := svc.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Delete(ctx, "three"); err != nil {
		t.Fatal(err)
	}
	off := true
	if _, err := svc.Update(ctx, "four", app.UpdateRequest{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, envFrom(nil), &out, io.Discard)
	return out.String(), err
}

// TestExportImportCommands: export a database, import it into another
// (twice: nothing changes the second time), in both formats, on SQLite and
// PostgreSQL; each link arrives in its state.
func TestExportImportCommands(t *testing.T) {
	type db struct {
		name string
		open func(t *testing.T) (string, app.LinkStore)
	}
	dbs := []db{{"sqlite", func(t *testing.T) (string, app.LinkStore) {
		path := filepath.Join(t.TempDir(), "l.db")
		s, err := sqlite.Open(context.Background(), path, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return path, s
	}}, {"postgres", func(t *testing.T) (string, app.LinkStore) {
		_, url := pgtest.NewDatabase(t) // skips, or fails under CI, without PostgreSQL
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return url, s
	}}}
	for _, d := range dbs {
		for _, format := range []string{"jsonl", "csv"} {
			t.Run(d.name+"/"+format, func(t *testing.T) {
				src, srcStore := d.open(t)
				seed(t, srcStore)
				export, err := runCmd(t, "export", "--db", src, "--format", format)
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(t.TempDir(), "links."+format)
				if err := os.WriteFile(file, []byte(export), 0o600); err != nil {
					t.Fatal(err)
				}
				dst, dstStore := d.open(t)
				report, err := runCmd(t, "import", "--db", dst, file)
				if err != nil {
					t.Fatalf("import: %v\n%s", err, report)
				}
				if !strings.Contains(report, "4 created, 0 skipped (already present), 0 refused; read as "+format) {
					t.Fatalf("report:\n%s", report)
				}
				now := time.Now()
				for code, want := range map[string]app.LinkState{"one": app.LinkLive, "two": app.LinkLive, "three": app.LinkDeleted, "four": app.LinkDisabled} {
					l, err := dstStore.FindLink(context.Background(), code)
					if err != nil || l.State(now) != want {
						t.Fatalf("%s after import: %+v %v, want %v", code, l, err, want)
					}
				}
				if l, _ := dstStore.FindLink(context.Background(), "two"); !l.Protected() {
					t.Fatal("the protected link lost its password")
				}
				report, err = runCmd(t, "import", "--db", dst, "--format", format, file)
				if err != nil || !strings.Contains(report, "0 created, 4 skipped (already present), 0 refused") {
					t.Fatalf("second import: %v\n%s", err, report)
				}
			})
		}
	}
}

func TestImportCommandReport(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "l.db")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shlink := write("shlink.csv", "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\r\n"+
		"2023-05-01T10:00:00+02:00,s.test,abc12,https://s.test/abc12,https://example.com/one,One,a|b,12\r\n"+
		"2023-05-01T10:00:00+02:00,s.test,bad code,https://s.test/x,https://example.com/two,,,0\r\n"+
		"garbage\r\n")
	report, err := runCmd(t, "import", "--db", dbPath, shlink)
	if err != nil {
		t.Fatalf("import with refused rows must not fail: %v", err)
	}
	for _, want := range []string{
		"line 3 (code bad code): refused: code: alias may contain only",
		"line 4: refused: 1 fields, the header has 8",
		"1 created, 0 skipped (already present), 2 refused; read as shlink",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// Links to the service itself are refused as the API refuses them.
	plain := write("plain.txt", "http://sho.rt/loop\nhttps://example.org/x\n")
	report, err = runCmd(t, "import", "--db", dbPath, "--base-url", "http://sho.rt", plain)
	if err != nil || !strings.Contains(report, "line 1: refused: url points at this shortener") || !strings.Contains(report, "1 created") {
		t.Fatalf("plain import: %v\n%s", err, report)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"import", "--db", dbPath, filepath.Join(dir, "nothere.csv")}, "no such file"},
		{"no file", []string{"import", "--db", dbPath}, "give one FILE"},
		{"unknown format", []string{"import", "--db", dbPath, "--format", "xml", shlink}, `"xml" is not one of`},
		{"wrong format", []string{"import", "--db", dbPath, "--format", "yourls", shlink}, "neither YOURLS' table"},
		{"a directory", []string{"import", "--db", dbPath, dir}, "is a directory"},
		{"export format", []string{"export", "--db", dbPath, "--format", "xml"}, `export format "xml"`},
		{"export to a file argument", []string{"export", "--db", dbPath, "out.jsonl"}, "goes to stdout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCmd(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	for _, cmd := range []string{"import", "export"} {
		out, err := runCmd(t, cmd, "--help")
		if !errors.Is(err, errHelp) || !strings.Contains(out, "Usage: shortener "+cmd) || !strings.Contains(out, "--format") {
			t.Fatalf("%s --help: %v\n%s", cmd, err, out)
		}
	}
}
