package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"text/template"
	"time"

	"github.com/obsshort/shortener/internal/promclient"
	"go.yaml.in/yaml/v3"
)

// RuleFiles returns the rule files under <repo>/alerts: every *.yml or
// *.yaml holding a top-level `groups` key. promtool unit-test files (with
// `tests` instead) live there too and must not be loaded as rules.
func RuleFiles(repoRoot string) ([]string, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, "alerts", pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var rules []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read rule file: %w", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		if _, ok := doc["groups"]; ok {
			rules = append(rules, f)
		}
	}
	return rules, nil
}

func (c Config) prometheusConfig() ([]byte, error) {
	rules, err := RuleFiles(c.RepoRoot)
	if err != nil {
		return nil, err
	}
	data := struct {
		Interval           string
		RuleFiles          []string
		TargetsGlob        string
		PushgatewayAddr    string
		HAProxyMetricsAddr string
		PrometheusAddr     string
	}{
		Interval:           time.Duration(c.ScrapeInterval).String(),
		RuleFiles:          rules,
		TargetsGlob:        filepath.Join(c.TargetsDir(), "*.json"),
		PushgatewayAddr:    c.PushgatewayAddr,
		HAProxyMetricsAddr: c.HAProxyMetricsAddr,
		PrometheusAddr:     c.PrometheusAddr,
	}
	return render("prometheus.yml.tmpl", data)
}

// haproxyServer is one server line of the HAProxy template.
type haproxyServer struct {
	Name      string
	Addr      string
	AdminPort string
	Weight    int
}

func (c Config) haproxyConfig(d Deployment) ([]byte, error) {
	server := func(name string, e Endpoint, weight int) (haproxyServer, error) {
		_, port, err := net.SplitHostPort(e.AdminAddr)
		return haproxyServer{Name: name, Addr: e.Addr, AdminPort: port, Weight: weight}, err
	}
	stableSlot, err := c.SlotByName(d.Stable.Slot)
	if err != nil {
		return nil, err
	}
	// One server per stable replica: "stable", "stable-2", ... (the
	// runtime API treats them as one group, see HAProxy.group).
	var stables []haproxyServer
	for k, e := range stableSlot.Endpoints(c.StableReplicas()) {
		st, err := server(stableServerName(k), e, 100)
		if err != nil {
			return nil, err
		}
		stables = append(stables, st)
	}
	// The canary server points at the free slot with weight 0; Up puts it
	// in maintenance until the pipeline enables it.
	cn, err := server(ServerCanary, c.OtherSlot(d.Stable.Slot).Endpoints(1)[0], 0)
	if err != nil {
		return nil, err
	}
	data := struct {
		Socket, ProxyAddr, MetricsAddr string
		Stables                        []haproxyServer
		Canary                         haproxyServer
	}{c.Socket(), c.ProxyAddr, c.HAProxyMetricsAddr, stables, cn}
	return render("haproxy.cfg.tmpl", data)
}

func render(name string, data any) ([]byte, error) {
	t, err := template.ParseFS(templates, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// fileSDGroup is one entry of a Prometheus file_sd JSON file.
type fileSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// FaultLabel is the target label of an instance started with fault
// injection on purpose (value "on"; absent otherwise): a game day's
// errors are told apart from the service's own, e.g. by the release
// pipeline's error-budget freeze.
const FaultLabel = "fault_injection"

// Register writes the file-SD entry of an instance: the admin address of
// each replica with the target labels track, version and slot, and
// FaultLabel when it runs with fault injection. Prometheus notices within
// a second.
func (c Config) Register(inst Instance) error {
	slot, err := c.SlotByName(inst.Slot)
	if err != nil {
		return err
	}
	var targets []string
	for _, e := range slot.Endpoints(inst.replicas()) {
		targets = append(targets, e.AdminAddr)
	}
	labels := map[string]string{"track": inst.Track, "version": inst.Version, "slot": inst.Slot}
	if inst.Fault.Enabled() {
		labels[FaultLabel] = "on"
	}
	b, err := json.MarshalIndent([]fileSDGroup{{Targets: targets, Labels: labels}}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.TargetsDir(), inst.Track+".json"), append(b, '\n'))
}

// Deregister removes the file-SD entry of a track.
func (c Config) Deregister(track string) error {
	err := os.Remove(filepath.Join(c.TargetsDir(), track+".json"))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("deregister %s: %w", track, err)
	}
	return nil
}

// queryTimeout bounds one query of the local Prometheus: it answers in
// milliseconds, and a pipeline must not hang on a stuck one.
const queryTimeout = 5 * time.Second

// prometheus returns a client of the stack's Prometheus; close it after use.
func (c Config) prometheus() (*promclient.Client, error) {
	return promclient.New(c.PrometheusURL(), promclient.Options{Timeout: queryTimeout})
}

// Query runs an instant PromQL query and returns the vector's samples as
// label sets with values.
func (c Config) Query(ctx context.Context, q string) ([]Sample, error) {
	pc, err := c.prometheus()
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	return query(ctx, pc, q)
}

func query(ctx context.Context, pc *promclient.Client, q string) ([]Sample, error) {
	vec, err := pc.Vector(ctx, q, time.Time{})
	if err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(vec))
	for _, s := range vec {
		labels := make(map[string]string, len(s.Metric))
		for k, v := range s.Metric {
			labels[string(k)] = string(v)
		}
		out = append(out, Sample{Labels: labels, Value: float64(s.Value)})
	}
	return out, nil
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// WaitScraped waits until Prometheus scrapes the instance successfully
// under its track and version labels.
func (c Config) WaitScraped(ctx context.Context, inst Instance, timeout time.Duration) error {
	q := fmt.Sprintf(`up{job="shortener",track=%q,version=%q,instance=%q} == 1`, inst.Track, inst.Version, inst.AdminAddr)
	pc, err := c.prometheus()
	if err != nil {
		return err
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		s, err := query(ctx, pc, q)
		if err == nil && len(s) > 0 {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus has not scraped %s (%s %s) after %s (last error %v)", inst.AdminAddr, inst.Track, inst.Version, timeout, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
