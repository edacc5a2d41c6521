package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
)

// startServer starts a server under test, pinned to cpus with taskset when
// cpus is set (the pid is still the server's own, which /proc/<pid>/status
// needs). Its stdout goes to /dev/null (the shortener writes one access-log
// line per request there, as it would to a log collector) and the tail of
// its stderr is kept for error messages.
func startServer(name, cpus string, env []string, bin string, args ...string) (*launch.Process, error) {
	return launch.Start(launch.Spec{Name: name, Path: bin, Args: args, Env: env, CPUs: cpus, DiscardStdout: true, KeepBytes: 8 << 10})
}

// stopServer asks for a graceful exit and kills after a grace period.
func stopServer(p *launch.Process) error {
	return p.Stop(context.Background(), 10*time.Second)
}

// peakRSS returns VmHWM, the peak resident set size, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("peak RSS of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak RSS of %d: parse %q: %w", pid, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("peak RSS of %d: no VmHWM line", pid)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(ctx context.Context, p *launch.Process, url string, timeout time.Duration) error {
	if err := httpwait.UntilOK(ctx, url, timeout, p.Dead); err != nil {
		return fmt.Errorf("%s: %w; stderr: %s", p.Name(), err, p.Tail(20))
	}
	return nil
}

// lookTool finds a Debian tool on PATH or in /usr/sbin, /usr/bin.
func lookTool(name string) (string, error) {
	for _, c := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errors.New(name + " not found: run `bash ci/install-deps.sh` (or `make deps`)")
}
