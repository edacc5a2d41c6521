package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/freeport"
	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
)

// Smoke runs the built binary on its own (temporary database, free
// loopback ports): it must become ready, create a link through the API,
// redirect to it, and exit 0 on SIGTERM. It returns a one-line summary.
func Smoke(ctx context.Context, bin string) (string, error) {
	dir, err := os.MkdirTemp("", "release-smoke-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	var ports freeport.Picker
	addr, err := ports.Addr()
	if err != nil {
		return "", err
	}
	admin, err := ports.Addr()
	if err != nil {
		return "", err
	}
	p, err := launch.Start(launch.Spec{Name: bin, Path: bin, Args: []string{
		"--addr", addr, "--admin-addr", admin,
		"--db", filepath.Join(dir, "smoke.db"),
		"--base-url", "http://" + addr}})
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		p.Kill()
		return "", fmt.Errorf("%w\n--- binary output (tail) ---\n%s", err, tail(p.Output(), 1500))
	}

	client := &http.Client{
		Timeout: 5 * time.Second,
		// The smoke test checks the redirect itself, not the target site.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	exited := func() error {
		if p.Exited() {
			return errors.New("process exited")
		}
		return nil
	}
	if err := httpwait.UntilOK(ctx, "http://"+admin+"/readyz", 20*time.Second, exited); err != nil {
		return fail(err)
	}
	target := "https://example.com/smoke/" + fmt.Sprint(time.Now().UnixNano())
	body, _ := json.Marshal(map[string]string{"url": target})
	resp, err := client.Post("http://"+addr+"/api/v1/links", "application/json", bytes.NewReader(body))
	if err != nil {
		return fail(fmt.Errorf("create link: %w", err))
	}
	var created struct {
		Code     string `json:"code"`
		ShortURL string `json:"short_url"`
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("create link: %s: %s", resp.Status, b))
	}
	if err := json.Unmarshal(b, &created); err != nil || created.Code == "" {
		return fail(fmt.Errorf("create link: unexpected body %s", b))
	}
	resp, err = client.Get("http://" + addr + "/" + created.Code)
	if err != nil {
		return fail(fmt.Errorf("follow link: %w", err))
	}
	resp.Body.Close()
	if resp.StatusCode < 300 || resp.StatusCode > 399 || resp.Header.Get("Location") != target {
		return fail(fmt.Errorf("follow link %s: %s Location %q, want a redirect to %q", created.Code, resp.Status, resp.Header.Get("Location"), target))
	}
	redirect := resp.StatusCode

	start := time.Now()
	// SIGTERM, and SIGKILL if it still runs 20 s later: that is an error.
	if err := p.Stop(ctx, 20*time.Second); err != nil {
		return fail(err)
	}
	if err := p.Err(); err != nil {
		return "", fmt.Errorf("exit after SIGTERM: %w\n%s", err, tail(p.Output(), 1500))
	}
	return fmt.Sprintf("ready, created /%s, %d redirect, SIGTERM -> exit 0 in %s", created.Code, redirect, time.Since(start).Round(time.Millisecond)), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
