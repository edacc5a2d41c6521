// Package pgtest gives tests a real PostgreSQL (the Debian package, through
// internal/pgserver): one server per test binary, started on first use on a
// free loopback port in a temporary folder, and a fresh database per test.
//
// A package that uses it runs its tests through Main, which stops the
// server and removes its folder when the tests are done:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without PostgreSQL installed a test skips on a developer machine and
// fails under CI=true.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/pgserver"
	"github.com/obsshort/shortener/internal/testenv"
)

var (
	mu       sync.Mutex
	shared   *pgserver.Server
	startErr error
	dbCount  int
)

// Main runs the package's tests and then stops the shared server.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if shared != nil {
		if err := shared.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		os.RemoveAll(shared.Dir)
	}
	mu.Unlock()
	os.Exit(code)
}

// Server returns the test binary's PostgreSQL, starting it on first use
// (about a second: initdb and start, without fsync, which only a machine
// crash would need).
func Server(tb testing.TB) *pgserver.Server {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && startErr == nil {
		shared, startErr = start(tb)
		if startErr == nil {
			// In-process stores read the password as a real deployment
			// does, from the environment (pgx honours PGPASSWORD); the
			// URL never holds it.
			os.Setenv("PGPASSWORD", shared.Password)
		}
	}
	if startErr != nil {
		if _, err := pgserver.FindBin(); err != nil {
			testenv.SkipUnlessCI(tb, "%v", err)
		}
		tb.Fatalf("start postgres: %v", startErr)
	}
	return shared
}

// Dedicated starts a server for this test alone (one that the test may
// stop, restart or break), stopped and removed when the test ends.
func Dedicated(tb testing.TB) *pgserver.Server {
	tb.Helper()
	if _, err := pgserver.FindBin(); err != nil {
		testenv.SkipUnlessCI(tb, "%v", err)
	}
	s, err := start(tb)
	if err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			tb.Log(err)
		}
		os.RemoveAll(s.Dir)
	})
	return s
}

func start(tb testing.TB) (*pgserver.Server, error) {
	if _, err := pgserver.FindBin(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s, err := pgserver.New(dir, testenv.FreeAddr(tb))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Settings = []string{"fsync=off", "full_page_writes=off", "max_connections=300", "shared_buffers=32MB"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Init(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(ctx, ""); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database for this test and returns its
// name and URL (without password; in-process clients get it from
// PGPASSWORD, set by Server, and processes from Env).
func NewDatabase(tb testing.TB) (name, url string) {
	tb.Helper()
	s := Server(tb)
	mu.Lock()
	dbCount++
	n := dbCount
	mu.Unlock()
	base := unsafe.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	name = fmt.Sprintf("t%d_%s", n, base)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateDatabase(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return name, s.URL(name)
}

// Env is the environment a shortener process needs to reach the server:
// the password, never on its command line.
func Env(tb testing.TB) []string {
	tb.Helper()
	return Server(tb).Env()
}
