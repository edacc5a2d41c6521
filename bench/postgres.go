package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/bench/linkset"
	"github.com/obsshort/shortener/internal/pgserver"
)

// pgBench is the PostgreSQL part of a run: one server from the Debian
// package, durable as shipped (fsync, synchronous_commit on), pinned to
// the servers' CPU like the shortener, so that a figure compares the
// shortener with PostgreSQL's own client under the same conditions.
type pgBench struct {
	srv *pgserver.Server
}

// startPostgres starts the run's PostgreSQL in dir.
func (h *harness) startPostgres(ctx context.Context) error {
	addr, err := h.ports.Addr()
	if err != nil {
		return err
	}
	dir := filepath.Join(h.dir, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The run's temporary folder is 0700; the server may run as another
	// user, who must enter it.
	if err := os.Chmod(h.dir, 0o755); err != nil {
		return err
	}
	srv, err := pgserver.New(dir, addr)
	if err != nil {
		return err
	}
	srv.CPUs = h.serverCPUs
	srv.Settings = []string{"max_connections=200", "shared_buffers=128MB"}
	if err := srv.Init(ctx); err != nil {
		return err
	}
	if err := srv.Start(ctx, filepath.Join(h.dir, "postgres.log")); err != nil {
		return err
	}
	h.pg = &pgBench{srv: srv}
	h.logf("postgres %s on %s (durable: fsync and synchronous_commit on)", filepath.Base(srv.Bin), addr)
	return nil
}

func (h *harness) stopPostgres() {
	if h.pg != nil {
		if err := h.pg.srv.Stop(context.Background()); err != nil {
			h.logf("%v", err)
		}
	}
}

// fillPostgres creates database name with the service's migrations (through
// app/postgres) and inserts links 0..n-1 of linkset in one statement.
func (h *harness) fillPostgres(ctx context.Context, name string, n int) (string, error) {
	srv := h.pg.srv
	if err := srv.CreateDatabase(ctx, name); err != nil {
		return "", err
	}
	url := srv.URL(name)
	os.Setenv("PGPASSWORD", srv.Password) // this process's own store handle, as the service reads it
	store, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		return "", fmt.Errorf("fill %s: %w", name, err)
	}
	store.Close()
	if n > 0 {
		stmt := fmt.Sprintf(`INSERT INTO links (code, url, created_at) SELECT %s, %s, now() FROM generate_series(0, $1 - 1) AS i`, linkset.PGCode, linkset.PGURL)
		if err := srv.Exec(ctx, name, stmt, n); err != nil {
			return "", fmt.Errorf("fill %s: insert %d links: %w", name, n, err)
		}
		if err := srv.Exec(ctx, name, `VACUUM ANALYZE links`); err != nil {
			return "", fmt.Errorf("fill %s: analyze: %w", name, err)
		}
	}
	got, err := srv.QueryInt(ctx, name, `SELECT count(*) FROM links`)
	if err != nil || got != int64(n) {
		return "", fmt.Errorf("fill %s: %d links stored (%v), want %d", name, got, err, n)
	}
	return url, nil
}

// startPostgresServers starts PostgreSQL and, on it and on SQLite, the
// shortener servers of the PostgreSQL figures: the warm-cache run on
// PostgreSQL (first), then the cache-miss runs on SQLite and PostgreSQL.
func (h *harness) startPostgresServers(ctx context.Context) ([]*server, error) {
	cfg := h.cfg
	if err := h.startPostgres(ctx); err != nil {
		return nil, err
	}
	pgSmall, err := h.fillPostgres(ctx, "small", cfg.SmallLinks)
	if err != nil {
		return nil, err
	}
	pgMissDB, err := h.fillPostgres(ctx, "miss", cfg.SmallLinks)
	if err != nil {
		return nil, err
	}
	missDB := filepath.Join(h.dir, "small-miss.db")
	if _, err := fillDB(ctx, missDB, cfg.SmallLinks); err != nil {
		return nil, err
	}
	pgFull, err := h.startShortener(ctx, "shortener-pg-10k", pgSmall, cfg.SmallLinks, true)
	if err != nil {
		return nil, err
	}
	// A one-entry cache: nearly every redirect reads the store.
	sqliteMiss, err := h.startShortener(ctx, "shortener-sqlite-miss", missDB, cfg.SmallLinks, true, "--cache-size", "1")
	if err != nil {
		return nil, err
	}
	pgMiss, err := h.startShortener(ctx, "shortener-pg-miss", pgMissDB, cfg.SmallLinks, true, "--cache-size", "1")
	if err != nil {
		return nil, err
	}
	return []*server{pgFull, sqliteMiss, pgMiss}, nil
}

// pgbenchScript is the statement the store runs for a lone create (the
// single-row INSERT), with a fresh random code per transaction: the
// database's throughput when every create is its own INSERT and commit.
// Under concurrency the store puts the creates that queue while a
// statement runs into one multi-row INSERT (app/postgres/insertbatch.go),
// so the ratio can exceed 1; it says whether the service's own work on the
// shared CPU leaves the database the room pgbench's clients leave it.
const pgbenchScript = `\set r random(1, 9000000000000000000)
INSERT INTO links (code, url, created_at, expires_at) VALUES ('pgb' || :r, 'https://example.org/created/' || :r, now(), NULL);
`

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchInserts runs pgbench with the store's INSERT at clients
// connections for d on database name and returns transactions per second.
func (h *harness) pgbenchInserts(ctx context.Context, name string, clients int, d time.Duration) (float64, error) {
	srv := h.pg.srv
	script := filepath.Join(h.dir, "insert.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o644); err != nil {
		return 0, err
	}
	host, port, _ := strings.Cut(srv.Addr, ":")
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", "1", "-T", strconv.Itoa(int(d.Seconds())),
		"-f", script, "-h", host, "-p", port, "-U", pgserver.SuperUser, name}
	argv := append([]string{srv.Tool("pgbench")}, args...)
	if h.loadCPUs != "" {
		argv = append([]string{"taskset", "-c", h.loadCPUs}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), srv.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench: no tps line in\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// comparePGCreates measures creations on PostgreSQL against pgbench in
// rounds, each the shortener's clients for a measurement then pgbench's
// for one, back to back, so that load from elsewhere on the machine hits
// both alike; the ratio is the median of the rounds'. Then the durable
// run (kill -9 and check) once on a fresh database.
func (h *harness) comparePGCreates(ctx context.Context, rep *Report) error {
	cfg := h.cfg
	url, err := h.fillPostgres(ctx, "creates_rounds", 0)
	if err != nil {
		return err
	}
	if _, err := h.fillPostgres(ctx, "pgbench", 0); err != nil {
		return err
	}
	s, err := h.startShortener(ctx, "shortener-pg-creates-rounds", url, 0, true)
	if err != nil {
		return err
	}
	for round := range cfg.Rounds {
		acked, failures, took, err := createLoad(ctx, s.url, cfg.CreateClients, cfg.Duration)
		if err != nil {
			return err
		}
		if failures > 0 {
			return fmt.Errorf("creates on PostgreSQL, round %d: %d failed", round+1, failures)
		}
		perSec := float64(len(acked)) / took.Seconds()
		tps, err := h.pgbenchInserts(ctx, "pgbench", cfg.CreateClients, cfg.Duration)
		if err != nil {
			return err
		}
		h.logf("round %d/%d creates on PostgreSQL %.0f/s, pgbench %.0f/s (%.2f)", round+1, cfg.Rounds, perSec, tps, perSec/tps)
		rep.PGCreateRounds = append(rep.PGCreateRounds, pgCreateRound{CreatesPerSec: perSec, PGBenchTPS: tps})
	}
	if err := stopServer(s.p); err != nil {
		h.logf("%v", err)
	}
	durable, err := h.fillPostgres(ctx, "creates", 0)
	if err != nil {
		return err
	}
	rep.PGCreates, err = h.measureCreates(ctx, "shortener-pg-creates", durable)
	return err
}

// pgCreateRound is one round of the creation comparison.
type pgCreateRound struct {
	CreatesPerSec float64 `json:"creates_per_second"`
	PGBenchTPS    float64 `json:"pgbench_tps"`
}
