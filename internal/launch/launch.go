// Package launch starts and stops child processes, and finds the tools they
// run (LookTool). It is the one launcher behind the test helper
// (testenv.Start), the local stack's daemons (ci/stack), the benchmark's
// CPU-pinned servers (bench), the release's smoke test (ci/release) and the
// fault tests' shortener instances (app/faulttest).
//
// A process is started from a Spec (program, arguments, environment, folder,
// where its output goes, optional CPU pinning, optional detaching) and
// stopped the same way everywhere: SIGTERM, then SIGKILL once a grace period
// has passed. A process started by an earlier program, known only by its pid
// (the stack's pid files), is stopped with the same logic through StopPID.
package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultKeepBytes is how much output a process without a log file keeps in
// memory: enough for any failure message, bounded for long runs.
const DefaultKeepBytes = 1 << 20

// ErrKilled says a process did not stop within its grace period after
// SIGTERM and was killed with SIGKILL.
var ErrKilled = errors.New("killed after the grace period")

// Spec says what to start and how.
type Spec struct {
	// Name is used in messages; the program's base name if empty.
	Name string
	// Path is the program to run (looked up on PATH if it has no slash).
	Path string
	Args []string
	// Env is added to this program's environment; a later entry for the
	// same name wins.
	Env []string
	// Dir is the working folder; this program's if empty.
	Dir string
	// LogFile, if set, receives stdout and stderr (appended; created with
	// its folder). Otherwise the output is kept in memory (the last
	// KeepBytes).
	LogFile string
	// DiscardStdout sends stdout to /dev/null, for programs that write a
	// line per request under load; stderr goes where the output goes.
	DiscardStdout bool
	// KeepBytes bounds the output kept in memory (DefaultKeepBytes if 0).
	KeepBytes int
	// CPUs, if set, pins the process with `taskset -c CPUs`. taskset execs
	// the program, so the pid is the program's own.
	CPUs string
	// Detach starts the process in its own session, so it outlives this
	// program and a Ctrl-C in its terminal. It needs a LogFile: output must
	// not go through a pipe that dies with this program.
	Detach bool
}

// Process is a started child process. While this program runs, a
// goroutine waits for it, so it never lingers as a zombie.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logFile string
	out     *tailBuffer // nil when the output goes to logFile
	done    chan struct{}
	err     error // from Wait, valid once done is closed
}

// Start starts the process described by s.
func Start(s Spec) (*Process, error) {
	name := s.Name
	if name == "" {
		name = filepath.Base(s.Path)
	}
	if s.Path == "" {
		return nil, errors.New("launch: no program given")
	}
	if s.Detach && s.LogFile == "" {
		return nil, fmt.Errorf("start %s: a detached process needs a log file, its output must outlive this program", name)
	}
	argv := append([]string{s.Path}, s.Args...)
	if s.CPUs != "" {
		taskset, err := LookTool("taskset")
		if err != nil {
			return nil, fmt.Errorf("start %s pinned to CPUs %s: %w", name, s.CPUs, err)
		}
		argv = append([]string{taskset, "-c", s.CPUs}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	p := &Process{name: name, cmd: cmd, logFile: s.LogFile, done: make(chan struct{})}

	var out io.Writer
	if s.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(s.LogFile), 0o755); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		f, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("start %s: open log: %w", name, err)
		}
		defer f.Close() // the child holds its own descriptor after Start
		out = f
	} else {
		keep := s.KeepBytes
		if keep <= 0 {
			keep = DefaultKeepBytes
		}
		p.out = &tailBuffer{max: keep}
		out = p.out
	}
	cmd.Stdout, cmd.Stderr = out, out
	if s.DiscardStdout {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		defer devnull.Close()
		cmd.Stdout = devnull
	}
	if s.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Name is the name used in messages.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig; a process that already exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.Pid(), err)
	}
	return nil
}

// Kill sends SIGKILL (no shutdown, no final flush) and waits for the exit.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM, waits up to grace for the exit, then sends SIGKILL
// and waits for that. It returns an error wrapping ErrKilled when the
// process had to be killed; ending ctx cuts the grace period short.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	return stop(ctx, p.name, p.Pid(), p.Signal, func(ctx context.Context, d time.Duration) bool {
		return p.waitDone(ctx, d)
	}, grace)
}

// Wait waits up to timeout for the exit and returns the exit code (-1 when
// a signal ended it); exited is false if it still runs.
func (p *Process) Wait(timeout time.Duration) (code int, exited bool) {
	if !p.waitDone(context.Background(), timeout) {
		return 0, false
	}
	return p.ExitCode(), true
}

func (p *Process) waitDone(ctx context.Context, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status: -1 while running or when a signal ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Err is the error of the exit (nil for status 0, and while running).
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Dead is nil while the process runs; once it has exited, an error saying
// so with its status and the tail of its output. It fits httpwait.UntilOK,
// which gives up waiting for a server that died.
func (p *Process) Dead() error {
	if !p.Exited() {
		return nil
	}
	status := "exit status 0"
	if p.err != nil {
		status = p.err.Error()
	}
	return fmt.Errorf("%s exited (%s): %s", p.name, status, p.Tail(20))
}

// Output is the output kept so far: the in-memory tail, or the log file.
func (p *Process) Output() string {
	if p.out != nil {
		return p.out.String()
	}
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// Tail is the last lines of the output, for error messages.
func (p *Process) Tail(lines int) string {
	if p.out != nil {
		return lastLines(p.out.String(), lines)
	}
	return TailFile(p.logFile, lines)
}

// TailFile returns the last lines of a log file ("" if it cannot be read),
// reading at most its last 64 KiB.
func TailFile(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const chunk = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > chunk {
		if _, err := f.Seek(st.Size()-chunk, io.SeekStart); err != nil {
			return ""
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	return lastLines(string(b), lines)
}

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if n <= 0 {
		return ""
	}
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}

// LookTool returns the absolute path of an external tool (prometheus,
// haproxy, wrk, taskset, ...): found on PATH, else in /usr/sbin or /usr/bin,
// where Debian installs daemons such as haproxy that are often not on a
// user's PATH. The error says how to install the Debian packages.
func LookTool(name string) (string, error) {
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = append(candidates, "/usr/sbin/"+name, "/usr/bin/"+name)
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin, /usr/bin: run `bash ci/install-deps.sh` (or `make deps`) to install the Debian packages the tests and tools use", name)
}

// StopPID stops a process known only by its pid, such as one started by an
// earlier run and recorded in a pid file, with the logic of Process.Stop:
// SIGTERM, up to grace for the exit, then SIGKILL. A pid that is already
// gone is not an error.
func StopPID(ctx context.Context, name string, pid int, grace time.Duration) error {
	if !Alive(pid) {
		return nil
	}
	signal := func(sig syscall.Signal) error {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %s (pid %d): %w", name, pid, err)
		}
		return nil
	}
	return stop(ctx, name, pid, signal, func(ctx context.Context, d time.Duration) bool {
		return waitGone(ctx, pid, d)
	}, grace)
}

// killWait bounds the wait after SIGKILL, which a process cannot ignore
// but which takes a moment when it is stuck in the kernel (a full disk).
const killWait = 10 * time.Second

// stop is the one stop sequence: SIGTERM, wait up to grace, SIGKILL, wait.
func stop(ctx context.Context, name string, pid int, signal func(syscall.Signal) error,
	wait func(context.Context, time.Duration) bool, grace time.Duration) error {
	if err := signal(syscall.SIGTERM); err != nil {
		return err
	}
	if wait(ctx, grace) {
		return nil
	}
	if err := signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !wait(context.Background(), killWait) {
		return fmt.Errorf("%s (pid %d) still runs %s after SIGKILL", name, pid, killWait)
	}
	return fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM: %w", name, pid, grace, ErrKilled)
}

// Alive reports whether pid exists and is not a zombie (a process that has
// exited but was not reaped yet still answers kill -0).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
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

func waitGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for Alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// tailBuffer keeps the last max bytes written to it, safe for the two
// goroutines that copy a child's stdout and stderr and for readers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	// Trim only past twice the limit, so trimming stays rare.
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) > t.max {
		return string(t.b[len(t.b)-t.max:])
	}
	return string(t.b)
}
