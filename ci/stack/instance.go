package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/httpwait"
	"github.com/obsshort/shortener/internal/launch"
)

// Fault is the app's opt-in fault injection an instance is started with
// (--fault-error-rate, --fault-latency, --fault-routes): game days and the
// incident replay.
type Fault struct {
	ErrorRate float64  `json:"fault_error_rate,omitempty"`
	Latency   Duration `json:"fault_latency,omitempty"`
	// Routes limits both faults to these route patterns (http_route);
	// empty: every public route.
	Routes []string `json:"fault_routes,omitempty"`
}

// Enabled reports whether any fault is set.
func (f Fault) Enabled() bool { return f.ErrorRate > 0 || f.Latency > 0 }

// Validate says what is wrong with f, naming the flag.
func (f Fault) Validate() error {
	switch {
	case f.ErrorRate < 0 || f.ErrorRate > 1:
		return fmt.Errorf("fault error rate %v: must be within 0..1", f.ErrorRate)
	case f.Latency < 0:
		return fmt.Errorf("fault latency %v: must not be negative", time.Duration(f.Latency))
	case len(f.Routes) > 0 && !f.Enabled():
		return fmt.Errorf("fault routes %v limit an error rate or a latency, and neither is set", f.Routes)
	}
	return nil
}

// Args are the app's flags for f.
func (f Fault) Args() []string {
	var args []string
	if f.ErrorRate > 0 {
		args = append(args, "--fault-error-rate", strconv.FormatFloat(f.ErrorRate, 'f', -1, 64))
	}
	if f.Latency > 0 {
		args = append(args, "--fault-latency", time.Duration(f.Latency).String())
	}
	if f.Enabled() && len(f.Routes) > 0 {
		args = append(args, "--fault-routes", strings.Join(f.Routes, ","))
	}
	return args
}

// String is e.g. "500 on 1% of requests of /{code}" or "none".
func (f Fault) String() string {
	var parts []string
	if f.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("500 on %s%% of requests", strconv.FormatFloat(f.ErrorRate*100, 'f', -1, 64)))
	}
	if f.Latency > 0 {
		parts = append(parts, fmt.Sprintf("+%s on every request", time.Duration(f.Latency)))
	}
	if len(parts) == 0 {
		return "none"
	}
	where := ""
	if len(f.Routes) > 0 {
		where = " of " + strings.Join(f.Routes, ", ")
	}
	return strings.Join(parts, " and ") + where
}

// Tracks of an app instance: the release identity Prometheus attaches.
const (
	TrackStable = "stable"
	TrackCanary = "canary"
)

// Instance is one running shortener process.
type Instance struct {
	Track     string `json:"track"`
	Version   string `json:"version"`
	Slot      string `json:"slot"`
	Addr      string `json:"addr"`
	AdminAddr string `json:"admin_addr"`
	Binary    string `json:"binary"`
	// Fault is the fault injection the instance runs with (its fields
	// are saved at the top level of the instance in deploy.json).
	Fault
	// Replicas is how many processes run this version in its slot (0
	// means 1); Addr and AdminAddr are the first one's.
	Replicas int `json:"replicas,omitempty"`
}

func (i Instance) replicas() int { return max(i.Replicas, 1) }

// replicaProc is replica k (from 0) of a slot: "app-a", "app-a-2", ...
func replicaProc(slot string, k int, bin string) proc {
	if k == 0 {
		return proc{name: "app-" + slot, bin: bin}
	}
	return proc{name: fmt.Sprintf("app-%s-%d", slot, k+1), bin: bin}
}

func (i Instance) proc() proc { return replicaProc(i.Slot, 0, i.Binary) }

// slotProcs are every replica process a slot can hold.
func (c Config) slotProcs(s Slot, bin string) []proc {
	out := make([]proc, 0, 1+len(s.More))
	for k := range 1 + len(s.More) {
		out = append(out, replicaProc(s.Name, k, bin))
	}
	return out
}

// Deployment is what runs where: saved in <state>/deploy.json and changed
// only by the pipeline (and by `up` the first time).
type Deployment struct {
	Stable *Instance `json:"stable"`
	Canary *Instance `json:"canary,omitempty"`
}

func (c Config) deployFile() string { return c.path("deploy.json") }

// LoadDeployment reads <state>/deploy.json; a missing file is an empty
// deployment.
func (c Config) LoadDeployment() (Deployment, error) {
	var d Deployment
	b, err := os.ReadFile(c.deployFile())
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("read deployment: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("parse %s: %w", c.deployFile(), err)
	}
	return d, nil
}

// SaveDeployment writes <state>/deploy.json.
func (c Config) SaveDeployment(d Deployment) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.deployFile(), append(b, '\n'))
}

// NewInstance describes an instance of a built version in a slot.
func (c Config) NewInstance(track, version, slotName, binary string) (Instance, error) {
	s, err := c.SlotByName(slotName)
	if err != nil {
		return Instance{}, err
	}
	return Instance{Track: track, Version: version, Slot: s.Name, Addr: s.Addr, AdminAddr: s.AdminAddr, Binary: binary}, nil
}

// InstancePID returns the pid of the instance if it runs.
func (c Config) InstancePID(i Instance) (int, bool) { return c.running(i.proc()) }

// StartInstance starts the app's replicas on its slot against the shared
// database and waits until each admin listener says ready; it returns the
// first replica's pid. It does not touch HAProxy or Prometheus: the
// pipeline decides when traffic and scraping start.
func (c Config) StartInstance(ctx context.Context, i Instance) (int, error) {
	if pid, ok := c.running(i.proc()); ok {
		return pid, fmt.Errorf("slot %s is busy (pid %d)", i.Slot, pid)
	}
	return c.startReplicas(ctx, i)
}

// ScaleInstance starts the replicas of i that are not running, up to n,
// and returns i with Replicas n (the pipeline scales a promoted canary to
// the stable's size before the old stable goes).
func (c Config) ScaleInstance(ctx context.Context, i Instance, n int) (Instance, error) {
	i.Replicas = n
	_, err := c.startReplicas(ctx, i)
	return i, err
}

func (c Config) startReplicas(ctx context.Context, i Instance) (int, error) {
	slot, err := c.SlotByName(i.Slot)
	if err != nil {
		return 0, err
	}
	if len(slot.More) < i.replicas()-1 {
		return 0, fmt.Errorf("slot %s has addresses for %d replicas, not %d", slot.Name, 1+len(slot.More), i.replicas())
	}
	dbArgs, env, err := c.dbArgs(ctx)
	if err != nil {
		return 0, err
	}
	first := 0
	for k, e := range slot.Endpoints(i.replicas()) {
		p := replicaProc(i.Slot, k, i.Binary)
		if pid, ok := c.running(p); ok {
			if k == 0 {
				first = pid
			}
			continue
		}
		args := append([]string{
			"--addr", e.Addr,
			"--admin-addr", e.AdminAddr,
			"--base-url", c.ProxyURL(),
		}, dbArgs...)
		args = append(args, i.Fault.Args()...)
		pid, err := c.start(p, env, args...)
		if err != nil {
			return 0, err
		}
		if err := waitReady(ctx, "http://"+e.AdminAddr+"/readyz", 20*time.Second, pid); err != nil {
			_, _ = c.stop(context.Background(), p, 5*time.Second)
			return 0, fmt.Errorf("instance %s %s replica %d: %w\n%s", i.Track, i.Version, k+1, err, c.logTail(p.name, 15))
		}
		if k == 0 {
			first = pid
		}
	}
	return first, nil
}

// StopInstance sends SIGTERM to every replica of the instance's slot (each
// turns unready, drains in-flight requests and exits) and waits for them.
func (c Config) StopInstance(ctx context.Context, i Instance) error {
	slot, err := c.SlotByName(i.Slot)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range c.slotProcs(slot, i.Binary) {
		if _, err := c.stop(ctx, p, 30*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitReady polls url until 200, failing early when process pid died.
func waitReady(ctx context.Context, url string, timeout time.Duration, pid int) error {
	return httpwait.UntilOK(ctx, url, timeout, func() error {
		if !launch.Alive(pid) {
			return errors.New("process exited")
		}
		return nil
	})
}

// LDFlags stamps version and revision into the telemetry package.
func LDFlags(version, revision string) string {
	return fmt.Sprintf("-X github.com/obsshort/shortener/telemetry.Version=%s -X github.com/obsshort/shortener/telemetry.Revision=%s", version, revision)
}

// BuildRelease runs `go build` for the shortener (and the gate, when its
// command exists) into dir.
func BuildRelease(ctx context.Context, repoRoot, dir, version, revision string) (string, error) {
	if strings.ContainsAny(version, " /\\\"'$") || version == "" {
		return "", fmt.Errorf("version %q: use letters, digits, dots and dashes", version)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pkgs := []string{"./app/cmd/shortener"}
	if _, err := os.Stat(filepath.Join(repoRoot, "ci", "cmd", "gate", "main.go")); err == nil {
		pkgs = append(pkgs, "./ci/cmd/gate")
	}
	args := append([]string{"build", "-ldflags", LDFlags(version, revision), "-o", dir + "/"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return filepath.Join(dir, "shortener"), nil
}

// GitRevision returns HEAD's commit id, or "unknown" outside a checkout.
func GitRevision(ctx context.Context, repoRoot string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// GitVersion returns `git describe --tags --always --dirty`, or "dev".
func GitVersion(ctx context.Context, repoRoot string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}
