package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/obsshort/shortener/internal/launch"
)

// LookupTools fills in the paths of prometheus, prometheus-pushgateway and
// haproxy (Debian puts haproxy in /usr/sbin, often not on a user's PATH).
func (c *Config) LookupTools() error {
	var err error
	for _, t := range []struct {
		dst  *string
		name string
	}{{&c.PrometheusBin, "prometheus"}, {&c.PushgatewayBin, "prometheus-pushgateway"}, {&c.HAProxyBin, "haproxy"}} {
		if *t.dst != "" {
			continue
		}
		if *t.dst, err = launch.LookTool(t.name); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) prometheusProc() proc  { return proc{name: "prometheus", bin: c.PrometheusBin} }
func (c Config) pushgatewayProc() proc { return proc{name: "pushgateway", bin: c.PushgatewayBin} }
func (c Config) haproxyProc() proc     { return proc{name: "haproxy", bin: c.HAProxyBin} }

// UpOptions says which version the first stable instance runs.
type UpOptions struct {
	// Version names the build of the current checkout used as the first
	// stable when the stack has no deployment yet.
	Version  string
	Revision string
	// Binary, if set, is used instead of building (tests build once).
	Binary string
}

// Up starts whatever part of the stack is not running and waits until all
// of it is ready. Running parts are left alone, so Up is idempotent.
func (c Config) Up(ctx context.Context, opt UpOptions, out io.Writer) error {
	if err := c.LookupTools(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.checkStoreChange(); err != nil {
		return err
	}
	for _, d := range []string{"run", "logs", "data", "targets", "prometheus", "pushgateway", "haproxy", "releases"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", c.path(d), err)
		}
	}
	if err := c.Save(); err != nil {
		return err
	}
	dep, err := c.LoadDeployment()
	if err != nil {
		return err
	}
	if dep.Stable == nil {
		bin := opt.Binary
		if bin == "" {
			fmt.Fprintf(out, "build: shortener %s (first stable)\n", opt.Version)
			if bin, err = BuildRelease(ctx, c.RepoRoot, c.ReleaseDir(opt.Version), opt.Version, opt.Revision); err != nil {
				return err
			}
		}
		inst, err := c.NewInstance(TrackStable, opt.Version, c.Slots[0].Name, bin)
		if err != nil {
			return err
		}
		inst.Replicas = c.StableReplicas()
		dep.Stable = &inst
	}
	// The stable runs as many replicas as the config says (a stack moved
	// to PostgreSQL grows from one to three).
	dep.Stable.Replicas = c.StableReplicas()
	// A canary recorded by an interrupted release is not restarted: the
	// pipeline that started it is gone, so stable serves alone again.
	if dep.Canary != nil {
		if _, ok := c.InstancePID(*dep.Canary); !ok {
			fmt.Fprintf(out, "canary %s is not running: forgetting it\n", dep.Canary.Version)
			dep.Canary = nil
			if err := c.Deregister(TrackCanary); err != nil {
				return err
			}
		}
	}
	if err := c.SaveDeployment(dep); err != nil {
		return err
	}

	// Pushgateway first: the pipeline and Prometheus both talk to it.
	if err := c.ensure(ctx, out, c.pushgatewayProc(), c.PushgatewayURL()+"/-/ready",
		"--web.listen-address="+c.PushgatewayAddr,
		"--persistence.file="+c.path("pushgateway", "metrics.store"),
		"--persistence.interval=5s",
		"--log.level=warn",
	); err != nil {
		return err
	}

	if err := c.Register(*dep.Stable); err != nil {
		return err
	}
	promCfg, err := c.prometheusConfig()
	if err != nil {
		return err
	}
	promCfgPath := c.path("prometheus", "prometheus.yml")
	if err := writeFileAtomic(promCfgPath, promCfg); err != nil {
		return err
	}
	if pid, ok := c.running(c.prometheusProc()); ok {
		// Rules may have changed since it started: reload is cheap.
		if err := c.reloadPrometheus(ctx); err != nil {
			return fmt.Errorf("prometheus (pid %d): %w", pid, err)
		}
	}
	if err := c.ensure(ctx, out, c.prometheusProc(), c.PrometheusURL()+"/-/ready",
		"--config.file="+promCfgPath,
		"--storage.tsdb.path="+c.path("prometheus", "data"),
		"--storage.tsdb.retention.time=7d",
		"--web.listen-address="+c.PrometheusAddr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	); err != nil {
		return err
	}

	if c.UsesPostgres() {
		if err := c.ensurePostgres(ctx, out); err != nil {
			return err
		}
	}
	// Replicas that are not running (all, or some that died) start.
	pid, stableRan := c.InstancePID(*dep.Stable)
	if _, err := c.startReplicas(ctx, *dep.Stable); err != nil {
		return err
	}
	if stableRan {
		fmt.Fprintf(out, "stable %s: already running (pid %d)\n", dep.Stable.Version, pid)
	} else {
		pid, _ = c.InstancePID(*dep.Stable)
		fmt.Fprintf(out, "stable %s: started, %d replica(s) (first pid %d)\n", dep.Stable.Version, dep.Stable.replicas(), pid)
	}

	haCfg, err := c.haproxyConfig(dep)
	if err != nil {
		return err
	}
	haCfgPath := c.path("haproxy", "haproxy.cfg")
	if _, ok := c.running(c.haproxyProc()); !ok {
		// Only rewritten when HAProxy is down: a running HAProxy's truth is
		// its runtime state, which the pipeline changed since.
		if err := writeFileAtomic(haCfgPath, haCfg); err != nil {
			return err
		}
		check := exec.CommandContext(ctx, c.HAProxyBin, "-c", "-q", "-f", haCfgPath)
		if b, err := check.CombinedOutput(); err != nil {
			return fmt.Errorf("haproxy config %s: %w\n%s", haCfgPath, err, b)
		}
		os.Remove(c.Socket())
	}
	_, wasRunning := c.running(c.haproxyProc())
	if err := c.ensure(ctx, out, c.haproxyProc(), c.ProxyURL()+"/healthz", "-f", haCfgPath); err != nil {
		return err
	}
	if !wasRunning {
		if err := (HAProxy{Socket: c.Socket()}).SetState(ctx, ServerCanary, "maint"); err != nil {
			return err
		}
	}

	if err := c.WaitScraped(ctx, *dep.Stable, 30*time.Second); err != nil {
		return err
	}
	return c.Status(ctx, out)
}

// ensure starts a component unless it runs, then waits for its ready URL.
func (c Config) ensure(ctx context.Context, out io.Writer, p proc, readyURL string, args ...string) error {
	pid, ok := c.running(p)
	if ok {
		fmt.Fprintf(out, "%s: already running (pid %d)\n", p.name, pid)
	} else {
		var err error
		if pid, err = c.start(p, nil, args...); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: started (pid %d)\n", p.name, pid)
	}
	if err := waitReady(ctx, readyURL, 60*time.Second, pid); err != nil {
		return fmt.Errorf("%s: %w\n%s", p.name, err, c.logTail(p.name, 15))
	}
	return nil
}

func (c Config) reloadPrometheus(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.PrometheusURL()+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("reload: %s: %s", resp.Status, b)
	}
	return nil
}

// Down stops the stack: HAProxy first (no new user traffic), then the app
// instances (each drains), then Prometheus and the Pushgateway. Data stays
// in the state folder for the next Up.
func (c Config) Down(ctx context.Context, out io.Writer) error {
	dep, err := c.LoadDeployment()
	if err != nil {
		return err
	}
	procs := []proc{c.haproxyProc()}
	for _, s := range c.Slots {
		bin := ""
		for _, i := range []*Instance{dep.Stable, dep.Canary} {
			if i != nil && i.Slot == s.Name {
				bin = i.Binary
			}
		}
		procs = append(procs, c.slotProcs(s, bin)...)
	}
	procs = append(procs, c.prometheusProc(), c.pushgatewayProc())
	if c.UsesPostgres() {
		// Last: the apps have closed their connections.
		pg, err := c.postgres()
		if err != nil {
			return err
		}
		procs = append(procs, c.postgresProc(pg))
	}
	var errs []error
	for _, p := range procs {
		was, err := c.stop(ctx, p, 30*time.Second)
		switch {
		case err != nil:
			errs = append(errs, err)
		case was:
			fmt.Fprintf(out, "%s: stopped\n", p.name)
		}
	}
	if dep.Canary != nil {
		dep.Canary = nil
		if err := c.Deregister(TrackCanary); err != nil {
			errs = append(errs, err)
		}
		if err := c.SaveDeployment(dep); err != nil {
			errs = append(errs, err)
		}
	}
	os.Remove(c.Socket())
	if len(errs) == 0 {
		fmt.Fprintln(out, "stack: down")
	}
	return errors.Join(errs...)
}

// Status prints where everything listens and what runs.
func (c Config) Status(ctx context.Context, out io.Writer) error {
	dep, err := c.LoadDeployment()
	if err != nil {
		return err
	}
	state := func(p proc) string {
		if pid, ok := c.running(p); ok {
			return fmt.Sprintf("running (pid %d)", pid)
		}
		return "stopped"
	}
	fmt.Fprintf(out, "state folder   %s\n", c.StateDir)
	fmt.Fprintf(out, "users          %-28s haproxy %s\n", c.ProxyURL(), state(c.haproxyProc()))
	fmt.Fprintf(out, "haproxy stats  %-28s runtime api %s\n", "http://"+c.HAProxyMetricsAddr+"/stats", c.Socket())
	fmt.Fprintf(out, "prometheus     %-28s %s\n", c.PrometheusURL(), state(c.prometheusProc()))
	fmt.Fprintf(out, "pushgateway    %-28s %s\n", c.PushgatewayURL(), state(c.pushgatewayProc()))
	if c.UsesPostgres() {
		if pg, err := c.postgres(); err == nil {
			fmt.Fprintf(out, "postgres       %-28s %s\n", pg.URL(postgresDB), state(c.postgresProc(pg)))
		}
	}
	for _, i := range []*Instance{dep.Stable, dep.Canary} {
		if i == nil {
			continue
		}
		slot, _ := c.SlotByName(i.Slot)
		for k, e := range slot.Endpoints(i.replicas()) {
			fmt.Fprintf(out, "%-14s %-28s admin http://%s  version %s  %s\n", i.Track, "http://"+e.Addr, e.AdminAddr, i.Version, state(replicaProc(i.Slot, k, i.Binary)))
		}
	}
	if _, ok := c.running(c.haproxyProc()); ok {
		st, err := HAProxy{Socket: c.Socket()}.Servers(ctx)
		if err == nil {
			names := make([]string, 0, len(st))
			for n := range st {
				names = append(names, n)
			}
			sort.Strings(names)
			var parts []string
			for _, n := range names {
				s := st[n]
				health := "down"
				switch {
				case s.AdminState&0x3f != 0:
					health = "maint"
				case s.Up():
					health = "up"
				}
				parts = append(parts, fmt.Sprintf("%s=%s:%d weight %d %s", n, s.Addr, s.Port, s.Weight, health))
			}
			fmt.Fprintf(out, "backend        %s\n", strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(out, "logs           %s\n", c.path("logs"))
	return nil
}

// checkStoreChange refuses to switch the store of a stack whose app
// instances run: they would keep the old store while new replicas used the
// new one. After `down` the switch is fine (links stay in the old store;
// the new one starts empty).
func (c Config) checkStoreChange() error {
	saved, err := LoadConfig(c.StateDir)
	if err != nil {
		return nil // a new stack
	}
	norm := func(s string) string {
		if s == "" {
			return StoreSQLite
		}
		return s
	}
	if norm(saved.Store) == norm(c.Store) {
		return nil
	}
	for _, s := range saved.Slots {
		for _, p := range saved.slotProcs(s, "") {
			if pid, ok := saved.running(p); ok {
				return fmt.Errorf("the stack in %s runs on %s (%s, pid %d): stop it first (make stack-down; its data stays) to start it on %s", c.StateDir, norm(saved.Store), p.name, pid, norm(c.Store))
			}
		}
	}
	return nil
}
