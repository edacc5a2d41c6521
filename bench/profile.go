package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// profileUnderLoad takes a CPU profile of s while wrk drives it for d, and
// writes <name>.cpu.prof and the `go tool pprof -top` text into dir. It
// runs after the measured rounds so profiling never slows a figure.
func (h *harness) profileUnderLoad(ctx context.Context, s *server, d time.Duration, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile %s: %w", s.name, err)
	}
	secs := max(1, int(d.Seconds())-2)
	prof := filepath.Join(dir, s.name+".cpu.prof")
	errc := make(chan error, 1)
	go func() {
		// Start the profile a second into the load, so it sees steady state.
		time.Sleep(time.Second)
		errc <- fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.admin, secs), prof)
	}()
	if _, err := h.wrk.run(ctx, s.url, s.links, d); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("profile %s: %w", s.name, err)
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", h.bins["shortener"], prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pprof -top %s: %w: %s", prof, err, top)
	}
	return os.WriteFile(filepath.Join(dir, s.name+".top.txt"), top, 0o644)
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
