package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/obsshort/shortener/internal/testenv"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"not loopback", func(c *Config) { c.ProxyAddr = "0.0.0.0:18080" }, "loopback only"},
		{"no port", func(c *Config) { c.PrometheusAddr = "127.0.0.1" }, "prometheus address"},
		{"same port twice", func(c *Config) { c.Slots[1].AdminAddr = c.Slots[0].AdminAddr }, "both use"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "state dir"},
		{"zero interval", func(c *Config) { c.ScrapeInterval = 0 }, "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig("/tmp/x", "/repo")
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// The format-1 dump as HAProxy 2.6 prints it.
const serversState = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 shortener 1 stable 127.0.0.1 2 0 100 100 53 15 3 3 6 0 0 0 - 18081 - 0 18181 - - 18181
3 shortener 2 canary 127.0.0.1 0 5 0 0 7 17 2 0 14 0 0 0 - 18082 - 0 18182 - - 18182
`

func TestParseServersState(t *testing.T) {
	got, err := parseServersState(serversState)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		server string
		want   ServerState
		up     bool
	}{
		{"stable", ServerState{Name: "stable", Addr: "127.0.0.1", Port: 18081, CheckPort: 18181, OpState: 2, AdminState: 0, Weight: 100}, true},
		{"canary", ServerState{Name: "canary", Addr: "127.0.0.1", Port: 18082, CheckPort: 18182, OpState: 0, AdminState: 5, Weight: 0}, false},
	}
	for _, tt := range tests {
		if got[tt.server] != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.server, got[tt.server], tt.want)
		}
		if got[tt.server].Up() != tt.up {
			t.Errorf("%s: Up() = %v, want %v", tt.server, got[tt.server].Up(), tt.up)
		}
	}
	for _, bad := range []string{"", "1\n3 shortener 1 stable", "No such backend."} {
		if _, err := parseServersState(bad); err == nil {
			t.Errorf("parseServersState(%q): no error", bad)
		}
	}
}

func TestRuleFilesSkipsPromtoolTests(t *testing.T) {
	repo := t.TempDir()
	files := map[string]string{
		"alerts/rules.yml":      "groups:\n  - name: g\n    rules: []\n",
		"alerts/slo.yaml":       "groups: []\n",
		"alerts/rules_test.yml": "rule_files: [rules.yml]\ntests: []\n",
		"alerts/README.md":      "# not yaml\n",
	}
	for name, body := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := RuleFiles(repo)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(repo, "alerts/rules.yml"), filepath.Join(repo, "alerts/slo.yaml")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("RuleFiles = %v, want %v", got, want)
	}
}

// TestGeneratedConfigsAreValid checks the rendered configs with the tools
// themselves: promtool (which also loads this repository's alerts/ rules)
// and haproxy -c.
func TestGeneratedConfigsAreValid(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool")
	haproxy := testenv.RequireTool(t, "haproxy")
	c := DefaultConfig(t.TempDir(), testenv.ModuleRoot(t))
	prom, err := c.prometheusConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"file_sd_configs", filepath.Join(c.TargetsDir(), "*.json"), "honor_labels: true", "scrape_interval: 1s"} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("prometheus.yml lacks %q", want)
		}
	}
	promPath := filepath.Join(c.StateDir, "prometheus.yml")
	if err := os.WriteFile(promPath, prom, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", promPath).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s\n%s", err, out, prom)
	}

	stable, err := c.NewInstance(TrackStable, "v1", "b", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	ha, err := c.haproxyConfig(Deployment{Stable: &stable})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"stats socket " + c.Socket() + " mode 600 level admin",
		"server stable 127.0.0.1:18082 check port 18182 weight 100",
		"server canary 127.0.0.1:18081 check port 18181 weight 0",
		"option forwardfor", "option redispatch", "retry-on",
	} {
		if !strings.Contains(string(ha), want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	haPath := filepath.Join(c.StateDir, "haproxy.cfg")
	if err := os.WriteFile(haPath, ha, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", haPath).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s\n%s", err, out, ha)
	}
}

func TestRegisterWritesFileSD(t *testing.T) {
	c := DefaultConfig(t.TempDir(), "/repo")
	inst, err := c.NewInstance(TrackCanary, "v2", "b", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(inst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(c.TargetsDir(), "canary.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"127.0.0.1:18182"`, `"track": "canary"`, `"version": "v2"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("canary.json lacks %s:\n%s", want, b)
		}
	}
	if err := c.Deregister(TrackCanary); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister(TrackCanary); err != nil {
		t.Fatalf("second deregister: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.TargetsDir(), "canary.json")); !os.IsNotExist(err) {
		t.Fatalf("canary.json still there: %v", err)
	}
}

func TestRunningIgnoresStaleAndForeignPIDs(t *testing.T) {
	c := DefaultConfig(t.TempDir(), "/repo")
	p := proc{name: "x", bin: "/usr/bin/definitely-not-this"}
	if _, ok := c.running(p); ok {
		t.Fatal("running without a pid file")
	}
	if err := writeFileAtomic(c.pidFile("x"), []byte("999999999\n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.running(p); ok {
		t.Fatal("running with a dead pid")
	}
	// Our own pid is alive but runs another binary: a recycled pid.
	if err := writeFileAtomic(c.pidFile("x"), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.running(p); ok {
		t.Fatal("a pid running another binary counted as running")
	}
}

// LookupTools fills in the daemons it is not given, from PATH (then
// /usr/sbin, /usr/bin), and keeps a path the config names.
func TestLookupToolsFillsOnlyWhatIsMissing(t *testing.T) {
	bin := t.TempDir()
	for _, name := range []string{"prometheus", "prometheus-pushgateway", "haproxy"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	c := DefaultConfig(t.TempDir(), "/repo")
	c.PrometheusBin, c.PushgatewayBin, c.HAProxyBin = "", "", "/opt/haproxy/sbin/haproxy"
	if err := c.LookupTools(); err != nil {
		t.Fatal(err)
	}
	want := Config{PrometheusBin: filepath.Join(bin, "prometheus"), PushgatewayBin: filepath.Join(bin, "prometheus-pushgateway"), HAProxyBin: "/opt/haproxy/sbin/haproxy"}
	if c.PrometheusBin != want.PrometheusBin || c.PushgatewayBin != want.PushgatewayBin || c.HAProxyBin != want.HAProxyBin {
		t.Errorf("tools %q %q %q, want %q %q %q", c.PrometheusBin, c.PushgatewayBin, c.HAProxyBin,
			want.PrometheusBin, want.PushgatewayBin, want.HAProxyBin)
	}
}

func TestCanaryWeights(t *testing.T) {
	tests := []struct {
		n, pct         int
		stable, canary int
	}{
		{1, 10, 90, 10},
		{1, 100, 0, 100},
		{3, 10, 90, 30},
		{3, 50, 50, 150},
		{3, 100, 0, 256},
		{3, 90, 9, 256}, // 10 and 270, scaled to fit 256
		{3, 0, 100, 0},
	}
	for _, tt := range tests {
		s, c := CanaryWeights(tt.n, tt.pct)
		if s != tt.stable || c != tt.canary {
			t.Errorf("CanaryWeights(%d, %d) = %d, %d; want %d, %d", tt.n, tt.pct, s, c, tt.stable, tt.canary)
		}
		if total := tt.n*s + c; total > 0 && tt.pct > 0 && tt.pct < 100 {
			share := 100 * float64(c) / float64(total)
			if share < float64(tt.pct)-1 || share > float64(tt.pct)+1 {
				t.Errorf("n=%d pct=%d: canary gets %.1f%% of requests", tt.n, tt.pct, share)
			}
		}
	}
}

// TestReplicasConfig: with three stable replicas the HAProxy config has a
// server per replica (valid for haproxy -c), discovery lists every
// replica, and a slot without enough addresses is refused.
func TestReplicasConfig(t *testing.T) {
	haproxy := testenv.RequireTool(t, "haproxy")
	c := DefaultConfig(t.TempDir(), testenv.ModuleRoot(t))
	c.Store, c.Replicas = StorePostgres, 3
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	stable, err := c.NewInstance(TrackStable, "v1", "a", "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	stable.Replicas = 3
	ha, err := c.haproxyConfig(Deployment{Stable: &stable})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server stable 127.0.0.1:18081 check port 18181 weight 100",
		"server stable-2 127.0.0.1:18083 check port 18183 weight 100",
		"server stable-3 127.0.0.1:18085 check port 18185 weight 100",
		"server canary 127.0.0.1:18082 check port 18182 weight 0",
	} {
		if !strings.Contains(string(ha), want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, ha)
		}
	}
	haPath := filepath.Join(c.StateDir, "haproxy.cfg")
	if err := os.WriteFile(haPath, ha, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", haPath).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
	if err := c.Register(stable); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(c.TargetsDir(), "stable.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"127.0.0.1:18181"`, `"127.0.0.1:18183"`, `"127.0.0.1:18185"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stable.json lacks %s:\n%s", want, b)
		}
	}
	c.Replicas = 4
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "replica addresses") {
		t.Fatalf("4 replicas with addresses for 3: %v", err)
	}
	c.Replicas, c.Store = 3, "mysql"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "store") {
		t.Fatalf("store mysql: %v", err)
	}
}

// TestStoreSwitchNeedsDown: a running stack is not moved to another store
// under its app instances; a stopped one may be.
func TestStoreSwitchNeedsDown(t *testing.T) {
	saved := DefaultConfig(t.TempDir(), "/repo")
	if err := saved.Save(); err != nil {
		t.Fatal(err)
	}
	next := saved
	next.Store = StorePostgres
	if err := next.checkStoreChange(); err != nil {
		t.Fatalf("switch of a stopped stack: %v", err)
	}
	// An app instance runs (this process stands in for it).
	if err := writeFileAtomic(saved.pidFile("app-a"), []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := next.checkStoreChange(); err == nil || !strings.Contains(err.Error(), "stack-down") {
		t.Fatalf("switch under a running instance: %v, want a refusal saying to stop first", err)
	}
	if err := saved.checkStoreChange(); err != nil {
		t.Fatalf("same store: %v", err)
	}
}
