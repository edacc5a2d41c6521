// Package pgserver runs a PostgreSQL server from the Debian package in a
// folder of its own, on a loopback port: the one way the tests
// (internal/pgtest), the local stack (ci/stack) and the benchmark (bench)
// get a PostgreSQL.
//
// PostgreSQL refuses to run as root, and tests run as root in CI, so when
// this program is root every server command runs as the unprivileged
// "postgres" user (created by the Debian package) through setpriv, which
// execs the program: the pid is the server's own, and signals reach it.
// The cluster's superuser has a random password, given to clients through
// PGPASSWORD (Env), never on a command line.
package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsshort/shortener/internal/launch"
)

// SuperUser is the name of the cluster's superuser.
const SuperUser = "shortener"

// Server is one PostgreSQL cluster: its folder, address and credentials.
type Server struct {
	Dir      string // holds data/ (the cluster) and the password file
	Addr     string // 127.0.0.1:port
	Password string // the superuser's; read from Dir on reuse
	Bin      string // folder of initdb, postgres and pgbench
	// RunAs is the unprivileged user the server runs as when this program
	// is root; nil runs it as this program's user.
	RunAs *user.User
	// Settings are extra `-c name=value` settings (fsync=off for tests).
	Settings []string
	// CPUs, if set, pins the server (taskset -c) as the benchmark does.
	CPUs string

	proc *launch.Process
}

// FindBin returns the folder holding initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH), else the
// folder of an initdb on PATH.
func FindBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("PostgreSQL server not found (no /usr/lib/postgresql/*/bin/postgres, no initdb on PATH): run `bash ci/install-deps.sh` (installs the Debian package postgresql)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// New describes a server in dir listening on addr (a loopback host:port).
// It finds the binaries and, when this program is root, the user to run
// as. Nothing is created or started yet.
func New(dir, addr string) (*Server, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Addr: addr, Bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL cannot run as root and there is no user %q to run it as (the Debian package creates it): %w", "postgres", err)
		}
		s.RunAs = u
	}
	return s, nil
}

// wrap returns argv run as RunAs (through setpriv) when set.
func (s *Server) wrap(argv ...string) ([]string, error) {
	if s.RunAs == nil {
		return argv, nil
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil, fmt.Errorf("run PostgreSQL as %s: %w", s.RunAs.Username, err)
	}
	return append([]string{setpriv, "--reuid=" + s.RunAs.Uid, "--regid=" + s.RunAs.Gid, "--init-groups", "--"}, argv...), nil
}

// chown gives path to RunAs, so the server may write there.
func (s *Server) chown(path string) error {
	if s.RunAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.RunAs.Uid)
	gid, _ := strconv.Atoi(s.RunAs.Gid)
	return os.Chown(path, uid, gid)
}

func (s *Server) dataDir() string  { return filepath.Join(s.Dir, "data") }
func (s *Server) passFile() string { return filepath.Join(s.Dir, "superuser-password") }

// Init creates the cluster unless Dir already holds one; then (or on reuse)
// it loads the superuser's password from Dir.
func (s *Server) Init(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION")); err == nil {
		b, err := os.ReadFile(s.passFile())
		if err != nil {
			return fmt.Errorf("postgres cluster in %s: read its password: %w", s.Dir, err)
		}
		s.Password = strings.TrimSpace(string(b))
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("postgres cluster folder: %w", err)
	}
	if err := s.chown(s.Dir); err != nil {
		return fmt.Errorf("postgres cluster folder %s: give it to %s: %w", s.Dir, s.RunAs.Username, err)
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	s.Password = hex.EncodeToString(pw)
	if err := os.WriteFile(s.passFile(), []byte(s.Password+"\n"), 0o600); err != nil {
		return fmt.Errorf("postgres password file: %w", err)
	}
	if err := s.chown(s.passFile()); err != nil {
		return err
	}
	argv, err := s.wrap(filepath.Join(s.Bin, "initdb"), "-D", s.dataDir(), "-U", SuperUser,
		"--pwfile="+s.passFile(), "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", s.dataDir(), err, out)
	}
	return nil
}

// Argv is the server's command line (run through setpriv when RunAs is
// set): TCP on Addr only, no Unix socket, plus Settings.
func (s *Server) Argv() ([]string, error) {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, fmt.Errorf("postgres address %q: %w", s.Addr, err)
	}
	args := []string{filepath.Join(s.Bin, "postgres"), "-D", s.dataDir(), "-p", port,
		"-c", "listen_addresses=" + host, "-c", "unix_socket_directories=",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning"}
	for _, kv := range s.Settings {
		args = append(args, "-c", kv)
	}
	return s.wrap(args...)
}

// Start runs the server in the background (output kept in memory, or in
// logFile) and waits until it accepts connections.
func (s *Server) Start(ctx context.Context, logFile string) error {
	argv, err := s.Argv()
	if err != nil {
		return err
	}
	p, err := launch.Start(launch.Spec{Name: "postgres " + s.Addr, Path: argv[0], Args: argv[1:], Dir: s.Dir, LogFile: logFile, CPUs: s.CPUs})
	if err != nil {
		return err
	}
	s.proc = p
	if err := s.WaitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop(context.Background())
		return fmt.Errorf("%w\n%s", err, p.Tail(20))
	}
	return nil
}

// Process is the running server started by Start (nil otherwise).
func (s *Server) Process() *launch.Process { return s.proc }

// Stop shuts the server down fast (SIGINT: open sessions are ended,
// committed data stays), SIGKILL after 30 s.
func (s *Server) Stop(ctx context.Context) error {
	if s.proc == nil || s.proc.Exited() {
		return nil
	}
	if err := s.proc.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if _, exited := s.proc.Wait(30 * time.Second); exited {
		return nil
	}
	s.proc.Kill()
	return fmt.Errorf("postgres %s did not shut down within 30s of SIGINT: killed", s.Addr)
}

// URL is a connection URL for database db, without the password (give it
// through Env).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", SuperUser, s.Addr, db)
}

// Env is what a client process needs besides the URL: the password.
func (s *Server) Env() []string { return []string{"PGPASSWORD=" + s.Password} }

// Tool returns the path of a client program of this server's version
// (pgbench, psql).
func (s *Server) Tool(name string) string { return filepath.Join(s.Bin, name) }

// Connect opens one connection to db as the superuser, the password given
// in the config, not through the environment.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.URL(db))
	if err != nil {
		return nil, err
	}
	cfg.Password = s.Password
	cfg.ConnectTimeout = 5 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// WaitReady polls until the server accepts a connection, or timeout.
func (s *Server) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if s.proc != nil && s.proc.Exited() {
			return s.proc.Dead()
		}
		conn, err := s.Connect(ctx, "postgres")
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres on %s not ready after %s: %w", s.Addr, timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CreateDatabase creates database name unless it exists.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	// FILE_COPY (PostgreSQL 15+) copies the template's files instead of
	// writing them all to the WAL: several times faster for the many small
	// databases tests make.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" STRATEGY FILE_COPY"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Exec runs statements in db as the superuser (tests use it to look at or
// break things the store would not do itself).
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// QueryInt runs a query returning one integer in db.
func (s *Server) QueryInt(ctx context.Context, db, sql string, args ...any) (int64, error) {
	conn, err := s.Connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}
