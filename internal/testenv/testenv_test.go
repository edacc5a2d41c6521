package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"1", true}, {"yes", true}, {"Yes", true}, {" on ", true},
		{"", false}, {"0", false}, {"false", false}, {"no", false}, {"off", false}, {"maybe", false},
	} {
		if got := truthy(tc.in); got != tc.want {
			t.Errorf("truthy(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFreeAddr(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := FreeAddr(t)
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(portText)
		if host != "127.0.0.1" || port < 20000 || port > 32767 {
			t.Fatalf("FreeAddr = %s, want 127.0.0.1 and a port in 20000-32767", addr)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		l.Close()
	}
}

// ModuleRoot from a test's folder (this package's) is two levels up.
func TestModuleRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ModuleRoot(t), filepath.Dir(filepath.Dir(wd)); got != want {
		t.Fatalf("ModuleRoot = %s, want %s", got, want)
	}
}

// BuildBinary builds once per key, records the ldflags, and the binary
// runs: Start and WaitHTTP reach its /healthz.
func TestBuildBinary(t *testing.T) {
	const ldflags = "-X main.testenvMarker=1"
	bin := BuildBinary(t, "./bench/baseline", ldflags)
	if again := BuildBinary(t, "./bench/baseline", ldflags); again != bin {
		t.Errorf("second build of the same package and flags: %s, want the cached %s", again, bin)
	}
	if other := BuildBinary(t, "./bench/baseline", ""); other == bin {
		t.Errorf("other ldflags share the binary %s", bin)
	}
	info, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v %s", err, info)
	}
	if !strings.Contains(string(info), "github.com/obsshort/shortener/bench/baseline") || !strings.Contains(string(info), "testenvMarker") {
		t.Fatalf("build info lacks the package or the ldflags:\n%s", info)
	}
	addr := FreeAddr(t)
	p := Start(t, nil, bin, "-addr", addr, "-links", "10")
	WaitHTTP(t, "http://"+addr+"/healthz", 10*time.Second)
	if p.Exited() {
		t.Fatalf("baseline exited: %s", p.Output())
	}
}

// stopRecorder stands in for a test to see how a helper stops it. Like
// a real test, it stops the helper's goroutine at the first Fatal or Skip.
type stopRecorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *stopRecorder) Helper() {}
func (r *stopRecorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *stopRecorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls helper with the recorder on a goroutine of its own, as a test
// runs on its own goroutine.
func (r *stopRecorder) run(helper func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		helper(r)
	}()
	<-done
}

// Under CI nothing skips: what would skip on a developer machine fails.
func TestNothingSkipsUnderCI(t *testing.T) {
	helpers := map[string]struct {
		stop    func(testing.TB)
		wantMsg string // what the skip or failure must say
	}{
		"SkipUnlessCI": {func(tb testing.TB) { SkipUnlessCI(tb, "no %s here", "thing") }, "no thing here"},
		"RequireTool of nothing": {func(tb testing.TB) { RequireTool(tb, "no-such-tool-for-testenv") },
			"no-such-tool-for-testenv not found on PATH or in /usr/sbin, /usr/bin: run `bash ci/install-deps.sh`"},
	}
	for name, helper := range helpers {
		for _, tc := range []struct {
			ci       string
			wantFail bool
		}{{"true", true}, {"yes", true}, {"1", true}, {"", false}, {"false", false}} {
			t.Run(name+" CI="+tc.ci, func(t *testing.T) {
				t.Setenv("CI", tc.ci)
				r := &stopRecorder{}
				r.run(helper.stop)
				if r.failed != tc.wantFail || r.skipped == tc.wantFail {
					t.Fatalf("failed %v skipped %v, want failed %v", r.failed, r.skipped, tc.wantFail)
				}
				if !strings.Contains(r.msg, helper.wantMsg) {
					t.Errorf("message %q, want it to say %q", r.msg, helper.wantMsg)
				}
			})
		}
	}
	if p := RequireTool(t, "sh"); p == "" {
		t.Fatal("RequireTool(sh) found nothing")
	}
}

// SilentServer holds connections open without answering while the test
// runs (a client times out, it does not see a close), and closes them and
// stops listening when the test ends.
func TestSilentServer(t *testing.T) {
	var (
		addr string
		held net.Conn
	)
	t.Run("while the test runs", func(t *testing.T) {
		addr = SilentServer(t)
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = c
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: silent\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var ne net.Error
		if n, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read %d bytes, %v; want a timeout: no answer and no close", n, err)
		}
		client := &http.Client{Timeout: 300 * time.Millisecond}
		if resp, err := client.Get("http://" + addr + "/"); !errors.As(err, &ne) || !ne.Timeout() {
			if err == nil {
				resp.Body.Close()
			}
			t.Fatalf("HTTP GET: %v, want the client's timeout", err)
		}
	})
	defer held.Close()
	_ = held.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if _, err := held.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("held connection after the test: read err %v, want it closed", err)
	}
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the test", addr)
	}
}
