package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/launch"
)

// proc is one long-running program of the stack, known by a pid file.
type proc struct {
	name string // pid and log file base name, e.g. "prometheus", "app-a"
	bin  string // absolute path of the executable, to recognise the pid
	// argv, if set, is the whole command line instead of bin and the
	// arguments of start (PostgreSQL runs through setpriv, which execs
	// bin).
	argv []string
}

func (c Config) pidFile(name string) string { return c.path("run", name+".pid") }

// LogFile is where a component's stdout and stderr go.
func (c Config) LogFile(name string) string { return c.path("logs", name+".log") }

// running returns the pid of the component if its pid file names a live
// process that runs the expected binary. A stale pid file is not an error.
func (c Config) running(p proc) (int, bool) {
	b, err := os.ReadFile(c.pidFile(p.name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !launch.Alive(pid) {
		return 0, false
	}
	// A recycled pid belongs to some other program: compare executables.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && p.bin != "" {
		want, _ := filepath.EvalSymlinks(p.bin)
		if want == "" {
			want = p.bin
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if exe != want && exe != p.bin {
			return 0, false
		}
	}
	return pid, true
}

// start launches a component detached from the caller (own session,
// output appended to its log file), so it outlives `release stack up`, and
// records its pid. While the caller runs it reaps the process if it exits,
// which keeps tests free of zombies.
func (c Config) start(p proc, env []string, args ...string) (int, error) {
	if err := os.MkdirAll(c.path("run"), 0o755); err != nil {
		return 0, err
	}
	if err := appendLine(c.LogFile(p.name), fmt.Sprintf("---- %s start %s %s", time.Now().Format(time.RFC3339), p.bin, strings.Join(append(p.argv, args...), " "))); err != nil {
		return 0, fmt.Errorf("open log of %s: %w", p.name, err)
	}
	path := p.bin
	if len(p.argv) > 0 {
		path, args = p.argv[0], p.argv[1:]
	}
	lp, err := launch.Start(launch.Spec{Name: p.name, Path: path, Args: args, Env: env, Dir: c.StateDir, LogFile: c.LogFile(p.name), Detach: true})
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(c.pidFile(p.name), []byte(strconv.Itoa(lp.Pid())+"\n")); err != nil {
		lp.Kill()
		return 0, fmt.Errorf("write pid file of %s: %w", p.name, err)
	}
	return lp.Pid(), nil
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop sends SIGTERM (graceful: the app drains, HAProxy closes listeners),
// waits up to grace, then SIGKILLs. It removes the pid file either way.
func (c Config) stop(ctx context.Context, p proc, grace time.Duration) (bool, error) {
	defer os.Remove(c.pidFile(p.name))
	pid, ok := c.running(p)
	if !ok {
		return false, nil
	}
	return true, launch.StopPID(ctx, p.name, pid, grace)
}

// logTail returns the last lines of a component's log, for error messages.
func (c Config) logTail(name string, n int) string { return launch.TailFile(c.LogFile(name), n) }
