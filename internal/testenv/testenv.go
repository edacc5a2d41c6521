// Package testenv holds what tests across the module need from the machine:
// external tools, free loopback ports and freshly built binaries.
//
// A missing tool skips the test on a developer machine but fails it under
// CI=true, so a green CI run always means the real component was exercised.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/freeport"
	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
	"github.com/obsshort/shortener/internal/moduleroot"
)

// InCI reports whether the tests run under CI (CI set to a true value:
// 1, true, yes, on, in any case), where nothing may be skipped.
func InCI() bool { return truthy(os.Getenv("CI")) }

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "y", "yes", "on":
		return true
	}
	return false
}

// SkipUnlessCI skips the test on a developer machine and fails it under CI,
// where a skip would hide that something was not tested.
func SkipUnlessCI(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatal("under CI nothing skips: " + msg)
	}
	tb.Skip(msg)
}

// RequireTool returns the path of an executable (found as
// launch.LookTool finds it: PATH, then /usr/sbin and /usr/bin), or stops the
// test: a skip on a developer machine, a failure under CI. The message says
// how to install it.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := launch.LookTool(name)
	if err == nil {
		return p
	}
	if InCI() {
		tb.Fatal(err.Error())
	}
	tb.Skip(err.Error())
	return ""
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago (see freeport.Picker): from 20000-32767, below Linux's ephemeral
// range, so an outgoing connection cannot take it between this call and the
// bind, and never handed out twice in one test process.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := ports.Addr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// ports is shared by every test of the process, so that no two of them are
// given the same port.
var ports freeport.Picker

// SilentServer listens on a loopback port, accepts every connection and
// holds it open without reading or answering: the worst case for a client
// (worse than a refused connection, which fails at once), so a test can
// prove that each call to a dead dependency has a deadline. It returns the
// address ("127.0.0.1:port"); the listener and the held connections are
// closed when the test ends.
func SilentServer(tb testing.TB) string {
	tb.Helper()
	// Port 0: the kernel picks, and the listener stays, so no race.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("silent server: %v", err)
	}
	var held sync.WaitGroup
	held.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return // the listener was closed
			}
			conns = append(conns, c)
		}
	})
	tb.Cleanup(func() {
		l.Close()
		held.Wait()
	})
	return l.Addr().String()
}

// ModuleRoot returns the repository root (the folder whose go.mod declares
// this module), found from the working directory, which `go test` sets to
// the package's folder.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatalf("module root: %v", err)
	}
	root, err := moduleroot.Find(wd)
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// BuildBinary compiles a main package of this module (for example
// "./app/cmd/shortener") once per test process and returns the binary path.
// ldflags, if any, are passed to -ldflags.
func BuildBinary(tb testing.TB, pkg string, ldflags string) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "|" + ldflags
	if p, ok := buildCache[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "testbin-")
	if err != nil {
		tb.Fatalf("temp dir: %v", err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = ModuleRoot(tb)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[key] = out
	return out
}

// WaitHTTP polls url until it answers 200 or the timeout passes.
func WaitHTTP(tb testing.TB, url string, timeout time.Duration) {
	tb.Helper()
	if err := httpwait.UntilOK(context.Background(), url, timeout, nil); err != nil {
		tb.Fatal(err)
	}
}

// Process is a started external program (see launch.Process): Signal,
// Kill, Stop, Wait with a deadline, exit code, Output and Tail.
type Process = launch.Process

// Start runs a program in the background and stops it (SIGTERM, then
// SIGKILL after 10 s) when the test ends. Its output is kept (the last
// MiB) and its tail logged if the test fails.
func Start(tb testing.TB, env []string, name string, args ...string) *Process {
	tb.Helper()
	p, err := launch.Start(launch.Spec{Path: name, Args: args, Env: env})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// A process that had to be killed is reported, not failed: what
		// the test asserts is its own business.
		if err := p.Stop(context.Background(), 10*time.Second); err != nil {
			tb.Logf("stop %s: %v", p.Name(), err)
		}
		if tb.Failed() {
			tb.Logf("output of %s:\n%s", p.Name(), p.Tail(60))
		}
	})
	return p
}

// SyncBuffer collects output written from several goroutines (a process,
// a logger) and lets a test read it at any time.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
