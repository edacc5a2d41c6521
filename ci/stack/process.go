package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one long-running program of the stack, known by a pid file.
type proc struct {
	name string // pid and log file base name, e.g. "prometheus", "app-a"
	bin  string // absolute path of the executable, to recognise the pid
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
	if !alive(pid) {
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

// alive reports whether pid exists and is not a zombie (a child of this
// process that exited but was not reaped yet still answers kill -0).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// Field 3, after the parenthesised command name, is the state.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// start launches a component detached from the caller (own process group,
// output appended to its log file), so it outlives `release stack up`, and
// records its pid. The caller reaps it if it is still around when the
// program exits, which keeps tests free of zombies.
func (c Config) start(p proc, env []string, args ...string) (int, error) {
	if err := os.MkdirAll(c.path("run"), 0o755); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(c.path("logs"), 0o755); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(c.LogFile(p.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open log of %s: %w", p.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "---- %s start %s %s\n", time.Now().Format(time.RFC3339), p.bin, strings.Join(args, " "))
	cmd := exec.Command(p.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.StateDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", p.name, err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }()
	if err := writeFileAtomic(c.pidFile(p.name), []byte(strconv.Itoa(pid)+"\n")); err != nil {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("write pid file of %s: %w", p.name, err)
	}
	return pid, nil
}

// stop sends SIGTERM (graceful: the app drains, HAProxy closes listeners),
// waits up to grace, then SIGKILLs. It removes the pid file either way.
func (c Config) stop(ctx context.Context, p proc, grace time.Duration) (bool, error) {
	pid, ok := c.running(p)
	if !ok {
		os.Remove(c.pidFile(p.name))
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("signal %s (pid %d): %w", p.name, pid, err)
	}
	if !waitExit(ctx, pid, grace) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitExit(context.Background(), pid, 5*time.Second)
		os.Remove(c.pidFile(p.name))
		return true, fmt.Errorf("%s (pid %d) did not stop within %s; killed", p.name, pid, grace)
	}
	os.Remove(c.pidFile(p.name))
	return true, nil
}

func waitExit(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// logTail returns the last lines of a component's log, for error messages.
func (c Config) logTail(name string, n int) string {
	b, err := os.ReadFile(c.LogFile(name))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
