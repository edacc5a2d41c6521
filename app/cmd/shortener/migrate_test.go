package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDBURLWithPasswordRefused: a postgres URL holding a password is
// refused, from the command line or the environment, and the message
// points at PGPASSWORD without repeating the password.
func TestDBURLWithPasswordRefused(t *testing.T) {
	const secret = "hunter2-very-secret"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"flag", []string{"--db", "postgres://app:" + secret + "@127.0.0.1:5432/links"}, nil},
		{"environment", nil, map[string]string{"SHORTENER_DB": "postgresql://app:" + secret + "@db.internal/links?sslmode=require"}},
		{"query parameter", []string{"--db", "postgres://app@127.0.0.1/links?password=" + secret}, nil},
		{"migrate", []string{"migrate", "--db", "postgres://app:" + secret + "@127.0.0.1:5432/links"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, envFrom(tc.env), &out, &errOut)
			if err == nil {
				t.Fatal("a URL with a password was accepted")
			}
			all := err.Error() + out.String() + errOut.String()
			if strings.Contains(all, secret) {
				t.Fatalf("the password is repeated: %s", all)
			}
			if !strings.Contains(err.Error(), "PGPASSWORD") {
				t.Fatalf("error %q does not say where the password belongs", err)
			}
		})
	}
}

// TestMigrateSQLite: `shortener migrate` applies the expand steps and lists
// the schema; --contract applies the contract steps (none yet) and says so.
func TestMigrateSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--db", db}, envFrom(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"expand    0001_links", "applied", "0003_link_changes"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("migrate output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--contract"}, envFrom(map[string]string{"SHORTENER_DB": db}), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "contract: nothing to apply") || strings.Contains(out.String(), "pending") {
		t.Fatalf("migrate --contract output:\n%s", out.String())
	}
}

// TestMigrateContractWaitsForOtherReleases: on PostgreSQL, --contract
// refuses while a process of another release is connected (it may use what
// the contract steps remove), names it, and goes ahead with --force or once
// it is gone.
func TestMigrateContractWaitsForOtherReleases(t *testing.T) {
	_, url := pgtest.NewDatabase(t)
	ctx := context.Background()
	old, err := postgres.Open(ctx, url, postgres.Options{AppName: "shortener v0-previous"})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.ChangeSeq(ctx); err != nil { // holds a connection open
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(ctx, []string{"migrate", "--contract", "--db", url}, envFrom(nil), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "shortener v0-previous") {
		t.Fatalf("contract with the previous release connected: %v, want a refusal naming it", err)
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "--contract", "--force", "--db", url}, envFrom(nil), &out, io.Discard); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if !strings.Contains(out.String(), "contract: nothing to apply") {
		t.Fatalf("output:\n%s", out.String())
	}
	old.Close()
	if err := run(ctx, []string{"migrate", "--contract", "--db", url}, envFrom(nil), &out, io.Discard); err != nil {
		t.Fatalf("contract once the previous release is gone: %v", err)
	}
}
