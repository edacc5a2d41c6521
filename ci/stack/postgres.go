package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/obsshort/shortener/internal/pgserver"
)

// postgresDB is the database the app instances use.
const postgresDB = "shortener"

// postgres describes the stack's PostgreSQL server (not started).
func (c Config) postgres() (*pgserver.Server, error) {
	s, err := pgserver.New(c.PostgresDir(), c.PostgresAddr)
	if err != nil {
		return nil, err
	}
	// Small: a laptop runs this beside everything else.
	s.Settings = []string{"max_connections=100", "shared_buffers=32MB"}
	return s, nil
}

func (c Config) postgresProc(s *pgserver.Server) proc {
	return proc{name: "postgres", bin: filepath.Join(s.Bin, "postgres")}
}

// reachableBy fails when user runAs cannot enter every folder above dir
// (the server runs as that user and must reach its data folder).
func reachableBy(dir string, uid int) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("PostgreSQL runs as uid %d and cannot enter %s (mode %v): use a --state folder below a world-enterable path such as /tmp, or chmod o+x %s", uid, d, st.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// ensurePostgres creates the cluster on first use, starts the server
// unless it runs, and creates the app's database.
func (c Config) ensurePostgres(ctx context.Context, out io.Writer) error {
	s, err := c.postgres()
	if err != nil {
		return err
	}
	if s.RunAs != nil {
		uid, _ := strconv.Atoi(s.RunAs.Uid)
		if err := reachableBy(c.PostgresDir(), uid); err != nil {
			return err
		}
	}
	if err := s.Init(ctx); err != nil {
		return err
	}
	p := c.postgresProc(s)
	if pid, ok := c.running(p); ok {
		fmt.Fprintf(out, "postgres: already running (pid %d)\n", pid)
	} else {
		argv, err := s.Argv()
		if err != nil {
			return err
		}
		p.argv = argv
		pid, err := c.start(p, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "postgres: started (pid %d)\n", pid)
	}
	if err := s.WaitReady(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("postgres: %w\n%s", err, c.logTail(p.name, 15))
	}
	return s.CreateDatabase(ctx, postgresDB)
}

// dbArgs are the app's --db argument and the environment it needs: the
// SQLite file, or the PostgreSQL URL with the password in PGPASSWORD
// (never on the command line, where ps shows it).
func (c Config) dbArgs(ctx context.Context) ([]string, []string, error) {
	if !c.UsesPostgres() {
		if err := os.MkdirAll(filepath.Dir(c.DBPath()), 0o755); err != nil {
			return nil, nil, err
		}
		return []string{"--db", c.DBPath()}, nil, nil
	}
	s, err := c.postgres()
	if err != nil {
		return nil, nil, err
	}
	if err := s.Init(ctx); err != nil { // reads the password of the existing cluster
		return nil, nil, err
	}
	return []string{"--db", s.URL(postgresDB)}, s.Env(), nil
}
