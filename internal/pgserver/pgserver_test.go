package pgserver

import (
	"os/user"
	"slices"
	"strings"
	"testing"
)

// TestArgv: the server listens on the given loopback address only, has no
// Unix socket, runs through setpriv as the unprivileged user when one is
// set, and its command line never holds the password.
func TestArgv(t *testing.T) {
	s := &Server{Dir: "/tmp/pg", Addr: "127.0.0.1:25432", Bin: "/usr/lib/postgresql/15/bin", Password: "s3cret-pw", Settings: []string{"fsync=off"}}
	argv, err := s.Argv()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(argv, " ")
	for _, want := range []string{"/usr/lib/postgresql/15/bin/postgres -D /tmp/pg/data -p 25432", "listen_addresses=127.0.0.1", "unix_socket_directories=", "-c fsync=off"} {
		if !strings.Contains(line, want) {
			t.Errorf("argv %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, s.Password) {
		t.Fatalf("the password is on the command line: %q", line)
	}
	s.RunAs = &user.User{Username: "postgres", Uid: "101", Gid: "104"}
	if argv, err = s.Argv(); err != nil {
		t.Fatalf("setpriv (util-linux): %v", err)
	}
	if !strings.HasSuffix(argv[0], "setpriv") || !slices.Contains(argv, "--reuid=101") || !slices.Contains(argv, "--") {
		t.Fatalf("argv as another user: %q", argv)
	}
	if _, err := (&Server{Addr: "no-port"}).Argv(); err == nil {
		t.Fatal("an address without a port was accepted")
	}
}

func TestURLHasNoPassword(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:25432", Password: "s3cret-pw"}
	if got, want := s.URL("links"), "postgres://shortener@127.0.0.1:25432/links?sslmode=disable"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if env := s.Env(); len(env) != 1 || env[0] != "PGPASSWORD=s3cret-pw" {
		t.Fatalf("Env = %q", env)
	}
}
