package launch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/launch"
	"github.com/obsshort/shortener/internal/testenv"
)

// helperEnv makes the test binary act as a parent that starts a detached
// child and exits at once, so a test can check the child outlives it.
const helperEnv = "LAUNCH_TEST_DETACH_PARENT"

func TestMain(m *testing.M) {
	if log := os.Getenv(helperEnv); log != "" {
		p, err := launch.Start(launch.Spec{Path: "sleep", Args: []string{"60"}, LogFile: log, Detach: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(p.Pid())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sh runs a shell script as the process under test.
func sh(script string) launch.Spec {
	return launch.Spec{Name: "script", Path: "sh", Args: []string{"-c", script}}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExitCodeAndOutput(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		wantCode int
		wantOut  string
	}{
		{"success", "echo hello; echo to-stderr >&2", 0, "hello\nto-stderr\n"},
		{"failure", "echo failing; exit 7", 7, "failing\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := launch.Start(sh(tt.script))
			if err != nil {
				t.Fatal(err)
			}
			code, exited := p.Wait(5 * time.Second)
			if !exited {
				t.Fatal("still running after 5 s")
			}
			if code != tt.wantCode || p.ExitCode() != tt.wantCode {
				t.Errorf("exit code %d (ExitCode %d), want %d", code, p.ExitCode(), tt.wantCode)
			}
			if (p.Err() == nil) != (tt.wantCode == 0) {
				t.Errorf("Err() = %v for exit code %d", p.Err(), tt.wantCode)
			}
			if p.Output() != tt.wantOut {
				t.Errorf("output %q, want %q", p.Output(), tt.wantOut)
			}
			dead := p.Dead()
			if dead == nil || !strings.Contains(dead.Error(), "script exited") {
				t.Errorf("Dead() = %v, want an error naming the exited script", dead)
			}
		})
	}
}

func TestWaitHasADeadline(t *testing.T) {
	p, err := launch.Start(launch.Spec{Path: "sleep", Args: []string{"30"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	began := time.Now()
	if _, exited := p.Wait(200 * time.Millisecond); exited {
		t.Fatal("sleep 30 reported as exited")
	}
	if took := time.Since(began); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("Wait(200ms) returned after %s", took)
	}
	if p.Exited() || p.Dead() != nil || p.ExitCode() != -1 {
		t.Errorf("running process: Exited %v, Dead %v, ExitCode %d", p.Exited(), p.Dead(), p.ExitCode())
	}
}

// Both ways of stopping, by handle and by pid, run the same sequence: a
// process that handles SIGTERM exits with its own status within the grace
// period, one that ignores it is killed once the grace period has passed.
func TestStop(t *testing.T) {
	const grace = 400 * time.Millisecond
	// The scripts write "ready" once their trap is set, so the signal
	// cannot arrive before the shell is listening for it.
	graceful := `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`
	stubborn := `trap '' TERM; echo ready; while :; do sleep 0.05; done`
	tests := []struct {
		name       string
		script     string
		byPID      bool
		wantKilled bool
	}{
		{"handle, graceful", graceful, false, false},
		{"handle, ignores SIGTERM", stubborn, false, true},
		{"pid, graceful", graceful, true, false},
		{"pid, ignores SIGTERM", stubborn, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := launch.Start(sh(tt.script))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Kill)
			waitFor(t, "script ready", func() bool { return strings.Contains(p.Output(), "ready") })
			began := time.Now()
			if tt.byPID {
				err = launch.StopPID(context.Background(), "script", p.Pid(), grace)
			} else {
				err = p.Stop(context.Background(), grace)
			}
			took := time.Since(began)
			if got := errors.Is(err, launch.ErrKilled); got != tt.wantKilled {
				t.Fatalf("stop: %v; killed %v, want %v", err, got, tt.wantKilled)
			}
			if !tt.wantKilled && err != nil {
				t.Fatalf("graceful stop: %v", err)
			}
			if code, exited := p.Wait(5 * time.Second); !exited {
				t.Fatal("still running after stop")
			} else if want := map[bool]int{false: 3, true: -1}[tt.wantKilled]; code != want {
				t.Errorf("exit code %d, want %d", code, want)
			}
			if tt.wantKilled && took < grace {
				t.Errorf("killed after %s, before the grace period of %s", took, grace)
			}
			if !tt.wantKilled && !strings.Contains(p.Output(), "got TERM") {
				t.Errorf("the script did not see SIGTERM: %q", p.Output())
			}
			if launch.Alive(p.Pid()) {
				t.Error("Alive after stop")
			}
		})
	}
}

func TestStopCutShortByContext(t *testing.T) {
	p, err := launch.Start(sh(`trap '' TERM; echo ready; while :; do sleep 0.05; done`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	waitFor(t, "script ready", func() bool { return strings.Contains(p.Output(), "ready") })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := p.Stop(ctx, time.Minute); !errors.Is(err, launch.ErrKilled) {
		t.Fatalf("stop: %v, want killed", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stop took %s although its context ended after 200 ms", took)
	}
}

func TestStopPIDOfAGonePID(t *testing.T) {
	p, err := launch.Start(sh("exit 0"))
	if err != nil {
		t.Fatal(err)
	}
	p.Wait(5 * time.Second)
	if err := launch.StopPID(context.Background(), "gone", p.Pid(), time.Second); err != nil {
		t.Fatalf("stopping a pid that is gone: %v", err)
	}
}

func TestTail(t *testing.T) {
	script := `i=1; while [ $i -le 100 ]; do echo line $i; i=$((i+1)); done`
	log := filepath.Join(t.TempDir(), "logs", "script.log")
	for _, tt := range []struct {
		name string
		spec launch.Spec
	}{
		{"in memory", sh(script)},
		{"log file", func() launch.Spec { s := sh(script); s.LogFile = log; return s }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := launch.Start(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := p.Wait(5 * time.Second); !ok {
				t.Fatal("still running")
			}
			if got, want := p.Tail(3), "line 98\nline 99\nline 100"; got != want {
				t.Errorf("Tail(3) = %q, want %q", got, want)
			}
			if got := p.Tail(1000); !strings.HasPrefix(got, "line 1\n") || strings.Count(got, "\n") != 99 {
				t.Errorf("Tail(1000) does not hold all 100 lines: %q", got)
			}
		})
	}
	if got := launch.TailFile(log, 2); got != "line 99\nline 100" {
		t.Errorf("TailFile = %q", got)
	}
}

// Output kept in memory is bounded: the last KeepBytes survive.
func TestKeepBytesBoundsMemory(t *testing.T) {
	s := sh(`i=1; while [ $i -le 5000 ]; do echo line $i; i=$((i+1)); done`)
	s.KeepBytes = 100
	p, err := launch.Start(s)
	if err != nil {
		t.Fatal(err)
	}
	p.Wait(5 * time.Second)
	out := p.Output()
	if len(out) != 100 || !strings.HasSuffix(out, "line 5000\n") {
		t.Fatalf("kept %d bytes ending %q; want the last 100", len(out), out[max(0, len(out)-20):])
	}
}

func TestDiscardStdoutKeepsStderr(t *testing.T) {
	s := sh(`echo access-log-line; echo error-line >&2`)
	s.DiscardStdout = true
	p, err := launch.Start(s)
	if err != nil {
		t.Fatal(err)
	}
	p.Wait(5 * time.Second)
	if got := p.Output(); got != "error-line\n" {
		t.Fatalf("output %q, want only stderr", got)
	}
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	s := sh(`echo "$LAUNCH_TEST_VAR $(pwd)"`)
	s.Env = []string{"LAUNCH_TEST_VAR=first", "LAUNCH_TEST_VAR=second"}
	s.Dir = dir
	p, err := launch.Start(s)
	if err != nil {
		t.Fatal(err)
	}
	p.Wait(5 * time.Second)
	real, _ := filepath.EvalSymlinks(dir)
	if got, want := strings.TrimSpace(p.Output()), "second "+real; got != want {
		t.Fatalf("output %q, want %q (later env entry wins, folder set)", got, want)
	}
}

func TestDetachNeedsALogFile(t *testing.T) {
	if _, err := launch.Start(launch.Spec{Path: "sleep", Args: []string{"1"}, Detach: true}); err == nil || !strings.Contains(err.Error(), "log file") {
		t.Fatalf("detached without a log file: %v, want an error", err)
	}
}

// A detached process lives in its own session and keeps running after the
// program that started it has exited; StopPID then stops it by pid, as
// `release stack down` does with the pid files.
func TestDetachedOutlivesItsParent(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "child.log")
	parent, err := launch.Start(launch.Spec{Path: self, Env: []string{helperEnv + "=" + log}})
	if err != nil {
		t.Fatal(err)
	}
	if code, ok := parent.Wait(10 * time.Second); !ok || code != 0 {
		t.Fatalf("parent: exited %v code %d: %s", ok, code, parent.Output())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(parent.Output()))
	if err != nil {
		t.Fatalf("parent printed %q, want the child's pid", parent.Output())
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	time.Sleep(100 * time.Millisecond)
	if !launch.Alive(pid) {
		t.Fatal("the detached child died with its parent")
	}
	if sid := session(t, pid); sid != pid {
		t.Errorf("child session %d, want its own (%d)", sid, pid)
	}
	if err := launch.StopPID(context.Background(), "sleep", pid, 5*time.Second); err != nil {
		t.Fatalf("stop by pid: %v", err)
	}
	if launch.Alive(pid) {
		t.Fatal("child still alive after StopPID")
	}
}

func TestCPUPinning(t *testing.T) {
	testenv.RequireTool(t, "taskset")
	p, err := launch.Start(launch.Spec{Path: "sleep", Args: []string{"30"}, CPUs: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	// taskset execs sleep: the pid becomes sleep's, pinned to CPU 0.
	waitFor(t, "taskset exec", func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Pid()))
		return strings.HasSuffix(exe, "/sleep")
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Cpus_allowed_list:\t0\n") {
		t.Fatalf("not pinned to CPU 0:\n%s", status)
	}
}

// session reads the session id of pid (field 6 of /proc/<pid>/stat).
func session(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the parenthesised command: state ppid pgrp session.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatalf("session of %d in %q: %v", pid, b, err)
	}
	return sid
}

// LookTool looks on PATH first, then in /usr/sbin and /usr/bin (Debian's
// haproxy is in /usr/sbin, often not on a user's PATH), and returns an
// absolute path; a missing tool's error names it and how to install it.
func TestLookTool(t *testing.T) {
	if _, err := os.Stat("/usr/bin/sh"); err != nil {
		testenv.SkipUnlessCI(t, "no /usr/bin/sh to find outside PATH: %v", err)
	}
	own := t.TempDir()
	if err := os.WriteFile(filepath.Join(own, "sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name, path, tool string
		want             []string // any of these
		wantErr          bool
	}{
		{"PATH wins over the fallback folders", own, "sh", []string{filepath.Join(own, "sh")}, false},
		{"fallback when PATH lacks it", empty, "sh", []string{"/usr/sbin/sh", "/usr/bin/sh"}, false},
		{"absolute path as given", empty, "/usr/bin/sh", []string{"/usr/bin/sh"}, false},
		{"missing", empty, "no-such-tool-for-launch", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			got, err := launch.LookTool(tt.tool)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.tool+" not found") || !strings.Contains(err.Error(), "ci/install-deps.sh") {
					t.Fatalf("LookTool(%s) = %q, %v; want an error naming it and the install script", tt.tool, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tt.want, got) {
				t.Fatalf("LookTool(%s) = %s, want one of %v", tt.tool, got, tt.want)
			}
		})
	}
}
