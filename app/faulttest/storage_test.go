package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/obsshort/shortener/internal/testenv"
	"github.com/obsshort/shortener/telemetry"
)

// storageFault breaks and repairs the storage under a running service.
type storageFault struct {
	name    string
	setup   func(t *testing.T) (dir string)    // folder for the database
	inject  func(t *testing.T, dir, db string) // make writes fail
	clear   func(t *testing.T, dir, db string) // make them work again
	message string                             // what a refused create must say
}

// TestStoreUnavailable makes the database unwritable under a running service,
// in the two ways production sees: the disk fills up (a small tmpfs filled to
// the last byte gives SQLITE_FULL) and the file becomes read-only (the
// immutable attribute on ext4, which unlike chmod or a read-only remount also
// refuses writes through file descriptors already open). During the fault:
// creates answer 503 with a message that says why, stored links still
// redirect, /readyz stays 200 while its admin detail and
// shortener_store_writable say why writes fail, the process stays up. When
// the fault clears the service recovers on its own.
func TestStoreUnavailable(t *testing.T) {
	for _, f := range []storageFault{
		{
			name: "disk full",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				mountTmpfs(t, dir, "4m")
				return dir
			},
			inject:  func(t *testing.T, dir, _ string) { fillDisk(t, filepath.Join(dir, "filler")) },
			clear:   func(t *testing.T, dir, _ string) { must(t, os.Remove(filepath.Join(dir, "filler"))) },
			message: "disk is full",
		},
		{
			name:  "read-only file",
			setup: func(t *testing.T) string { return t.TempDir() },
			inject: func(t *testing.T, _, db string) {
				chattr(t, "+i", db, db+"-wal")
				t.Cleanup(func() { _ = exec.Command("chattr", "-i", db, db+"-wal").Run() })
			},
			clear:   func(t *testing.T, _, db string) { chattr(t, "-i", db, db+"-wal") },
			message: "cannot be written",
		},
	} {
		t.Run(f.name, func(t *testing.T) {
			dir := f.setup(t)
			db := filepath.Join(dir, "shortener.db")
			in := start(t, db, nil, "--visit-flush-interval", "200ms")
			client := newClient(15 * time.Second)
			ctx := context.Background()

			stored := map[string]string{}
			for i := range 20 {
				st, body, err := createLink(ctx, client, in.URL(), fmt.Sprintf("https://example.com/before/%d", i), "")
				if err != nil || st != http.StatusCreated {
					t.Fatalf("create before the fault: %d %v", st, err)
				}
				stored[body.Code] = body.URL
			}

			f.inject(t, dir, db)

			refused, accepted := 0, map[string]string{}
			for i := 0; i < 50 && refused < 5; i++ {
				st, body, err := createLink(ctx, client, in.URL(), fmt.Sprintf("https://example.com/during/%d", i), "")
				switch {
				case err != nil:
					t.Fatalf("create during the fault: %v", err)
				case st == http.StatusCreated: // WAL space already allocated may still take a write
					accepted[body.Code] = body.URL
				case st == http.StatusServiceUnavailable:
					refused++
					if !strings.Contains(body.Error, f.message) || strings.Contains(strings.ToLower(body.Error), "sqlite") {
						t.Fatalf("503 says %q; want a plain message saying %q", body.Error, f.message)
					}
				default:
					t.Fatalf("create during the fault: %d %q, want 503", st, body.Error)
				}
			}
			if refused == 0 {
				t.Fatalf("no create was refused during the fault (%d accepted)", len(accepted))
			}
			for code, url := range stored { // not cached yet: read from the file
				st, loc, _, err := get(ctx, client, in.URL()+"/"+code)
				if err != nil || st != http.StatusFound || loc != url {
					t.Fatalf("redirect %s during the fault: %d %q %v, want 302 to %s", code, st, loc, err, url)
				}
			}
			// Readiness does not depend on writes: redirects still work, so
			// both listeners stay ready; the admin detail and the gauge say
			// the store cannot take writes, and why.
			for _, base := range []string{in.URL(), in.AdminURL()} {
				if st, _, body, err := get(ctx, client, base+"/readyz"); err != nil || st != http.StatusOK {
					t.Fatalf("%s/readyz during the fault: %d %s %v, want 200 (redirects still work)", base, st, body, err)
				}
			}
			if h := storeHealth(t, ctx, client, in); h.Writable || !strings.Contains(h.WriteError, f.message) {
				t.Fatalf("admin /readyz store detail during the fault: %+v, want writable=false saying %q", h, f.message)
			}
			if v := metricValue(t, in, telemetry.MetricStoreWritable); v != 0 {
				t.Fatalf("%s = %v during the fault, want 0", telemetry.MetricStoreWritable, v)
			}
			// The visits of those redirects are flushed every 200 ms: the
			// flushes must fail while the fault lasts, and the process must
			// live through them.
			flushErrors := telemetry.MetricVisitFlushBatches + `{result="error"}`
			for deadline := time.Now().Add(10 * time.Second); metricValue(t, in, flushErrors) == 0; time.Sleep(100 * time.Millisecond) {
				if in.exited() {
					t.Fatalf("process exited during the fault: %v", in.p.Err())
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still 0 10 s into the fault: no visit flush met the fault", flushErrors)
				}
			}
			time.Sleep(500 * time.Millisecond) // a few more failed flushes
			if in.exited() {
				t.Fatalf("process exited during the fault: %v", in.p.Err())
			}

			f.clear(t, dir, db)

			// The background write probe notices the recovery by itself.
			deadline := time.Now().Add(15 * time.Second)
			for {
				h := storeHealth(t, ctx, client, in)
				if h.Writable {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("store still not writable 15 s after the fault cleared: %+v", h)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if v := metricValue(t, in, telemetry.MetricStoreWritable); v != 1 {
				t.Fatalf("%s = %v after the fault cleared, want 1", telemetry.MetricStoreWritable, v)
			}
			st, body2, err := createLink(ctx, client, in.URL(), "https://example.com/after", "")
			if err != nil || st != http.StatusCreated {
				t.Fatalf("create after the fault cleared: %d %q %v", st, body2.Error, err)
			}
			accepted[body2.Code] = body2.URL
			for code, url := range accepted {
				st, loc, _, err := get(ctx, client, in.URL()+"/"+code)
				if err != nil || st != http.StatusFound || loc != url {
					t.Fatalf("link %s acknowledged during or after the fault: %d %q %v", code, st, loc, err)
				}
			}
			t.Logf("during the fault: %d creates refused with 503, %d accepted; recovered by itself", refused, len(accepted)-1)
		})
	}
}

// mountTmpfs mounts a tmpfs of the given size on dir until the test ends.
// Without permission to mount it skips on a developer machine and fails
// under CI, like a missing tool.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	mount := testenv.RequireTool(t, "mount")
	if out, err := exec.Command(mount, "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.SkipUnlessCI(t, "mount tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// chattr sets or clears file attributes; the files that do not exist are
// left out.
func chattr(t *testing.T, mode string, files ...string) {
	t.Helper()
	tool := testenv.RequireTool(t, "chattr")
	args := []string{mode}
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			args = append(args, f)
		}
	}
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		testenv.SkipUnlessCI(t, "chattr %s (needs root and ext4 or xfs): %v %s", mode, err, out)
	}
}

// fillDisk writes path until the file system has no byte left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, size := range []int{64 << 10, 4 << 10, 512, 1} {
		buf := make([]byte, size)
		for {
			if _, err := fh.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill disk: %v", err)
				}
				break
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// storeWriteHealth is the store detail of the admin /readyz answer.
type storeWriteHealth struct {
	Writable       bool   `json:"writable"`
	WriteError     string `json:"write_error"`
	Reachable      bool   `json:"reachable"`
	ReachableError string `json:"reachable_error"`
}

func storeHealth(t *testing.T, ctx context.Context, c *http.Client, in *instance) storeWriteHealth {
	t.Helper()
	st, _, body, err := get(ctx, c, in.AdminURL()+"/readyz")
	if err != nil || st != http.StatusOK {
		t.Fatalf("admin /readyz: %d %s %v, want 200", st, body, err)
	}
	var r struct {
		Store *storeWriteHealth `json:"store"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Store == nil {
		t.Fatalf("admin /readyz body %q: no store detail (%v)", body, err)
	}
	return *r.Store
}
