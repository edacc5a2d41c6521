package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/obsshort/shortener/internal/httpwait"
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
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return "", err
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--addr", addr, "--admin-addr", admin,
		"--db", filepath.Join(dir, "smoke.db"),
		"--base-url", "http://"+addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	// exited closes when the process is gone; waitErr is read only after.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	fail := func(err error) (string, error) {
		_ = cmd.Process.Kill()
		<-exited
		return "", fmt.Errorf("%w\n--- binary output (tail) ---\n%s", err, tail(logs.String(), 1500))
	}

	client := &http.Client{
		Timeout: 5 * time.Second,
		// The smoke test checks the redirect itself, not the target site.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if err := pollOK(ctx, "http://"+admin+"/readyz", 20*time.Second, exited); err != nil {
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fail(fmt.Errorf("sigterm: %w", err))
	}
	select {
	case <-exited:
		if waitErr != nil {
			return "", fmt.Errorf("exit after SIGTERM: %w\n%s", waitErr, tail(logs.String(), 1500))
		}
	case <-time.After(20 * time.Second):
		return fail(errors.New("no exit within 20s of SIGTERM"))
	}
	return fmt.Sprintf("ready, created /%s, %d redirect, SIGTERM -> exit 0 in %s", created.Code, redirect, time.Since(start).Round(time.Millisecond)), nil
}

func pollOK(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	return httpwait.UntilOK(ctx, url, timeout, func() error {
		select {
		case <-exited:
			return errors.New("process exited")
		default:
			return nil
		}
	})
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
