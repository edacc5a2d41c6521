// Package stack runs a local production stack from real parts on loopback:
// Prometheus (rules from alerts/, file-based discovery of the app targets),
// a Pushgateway, HAProxy in front of the app with its runtime API enabled,
// and the shortener instances (one stable, at most one canary).
//
// Everything lives under one state folder: generated configs, pid files,
// logs, the shared SQLite database, the TSDB, and the released binaries.
// Commands are idempotent: they look at pid files and live processes, so
// `up` twice starts nothing new and `down` after a crash cleans up.
package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Slot is one of the two fixed address pairs an app instance can use. The
// stable and the canary always occupy different slots; on promotion the
// names swap, so the next canary takes the slot the old stable left.
type Slot struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`       // public listener, HAProxy's server address
	AdminAddr string `json:"admin_addr"` // /metrics, /readyz: scrape and health check target
	// More are the addresses of replicas 2, 3, ... when the stable runs
	// several (Config.Replicas; PostgreSQL only shares across machines,
	// but any store shares across processes).
	More []Endpoint `json:"more_replicas,omitempty"`
}

// Endpoint is one replica's pair of listeners.
type Endpoint struct {
	Addr      string `json:"addr"`
	AdminAddr string `json:"admin_addr"`
}

// Endpoints returns the first n replica addresses of the slot (n <= 1 +
// len(More); Validate checks).
func (s Slot) Endpoints(n int) []Endpoint {
	out := []Endpoint{{Addr: s.Addr, AdminAddr: s.AdminAddr}}
	for i := 0; i < n-1 && i < len(s.More); i++ {
		out = append(out, s.More[i])
	}
	return out
}

// Stores the stack can run the app on.
const (
	StoreSQLite   = "sqlite"   // one file in the state folder, shared by every process
	StorePostgres = "postgres" // one PostgreSQL server (the Debian package) started by the stack
)

// Config is where the stack's parts listen and which programs run them. It
// is saved in <state>/stack.json on `up`, so later commands (release,
// status, down) find the same ports without repeating flags.
type Config struct {
	StateDir           string   `json:"state_dir"`
	RepoRoot           string   `json:"repo_root"`
	ProxyAddr          string   `json:"proxy_addr"`
	HAProxyMetricsAddr string   `json:"haproxy_metrics_addr"`
	PrometheusAddr     string   `json:"prometheus_addr"`
	PushgatewayAddr    string   `json:"pushgateway_addr"`
	Slots              [2]Slot  `json:"slots"`
	ScrapeInterval     Duration `json:"scrape_interval"`
	// Store is where the app keeps links: StoreSQLite (default) or
	// StorePostgres, which the stack starts on PostgresAddr.
	Store        string `json:"store,omitempty"`
	PostgresAddr string `json:"postgres_addr,omitempty"`
	// Replicas is how many processes the stable runs (default 1); a
	// canary runs one, and is scaled to Replicas when promoted.
	Replicas int `json:"replicas,omitempty"`

	PrometheusBin  string `json:"prometheus_bin"`
	PushgatewayBin string `json:"pushgateway_bin"`
	HAProxyBin     string `json:"haproxy_bin"`
}

// Duration is a time.Duration written as "1s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns fixed loopback ports in a high range, so `make
// stack` always says the same addresses; tests override every one.
func DefaultConfig(stateDir, repoRoot string) Config {
	return Config{
		StateDir:           stateDir,
		RepoRoot:           repoRoot,
		ProxyAddr:          "127.0.0.1:18080",
		HAProxyMetricsAddr: "127.0.0.1:18405",
		PrometheusAddr:     "127.0.0.1:19090",
		PushgatewayAddr:    "127.0.0.1:19091",
		Slots: [2]Slot{
			{Name: "a", Addr: "127.0.0.1:18081", AdminAddr: "127.0.0.1:18181", More: []Endpoint{
				{Addr: "127.0.0.1:18083", AdminAddr: "127.0.0.1:18183"},
				{Addr: "127.0.0.1:18085", AdminAddr: "127.0.0.1:18185"},
			}},
			{Name: "b", Addr: "127.0.0.1:18082", AdminAddr: "127.0.0.1:18182", More: []Endpoint{
				{Addr: "127.0.0.1:18084", AdminAddr: "127.0.0.1:18184"},
				{Addr: "127.0.0.1:18086", AdminAddr: "127.0.0.1:18186"},
			}},
		},
		ScrapeInterval: Duration(time.Second),
		Store:          StoreSQLite,
		PostgresAddr:   "127.0.0.1:15432",
		Replicas:       1,
	}
}

// StableReplicas is how many processes a stable runs.
func (c Config) StableReplicas() int { return max(c.Replicas, 1) }

// UsesPostgres reports whether the app runs on the stack's PostgreSQL.
func (c Config) UsesPostgres() bool { return c.Store == StorePostgres }

// Validate checks that every address is a loopback host:port and all differ.
func (c Config) Validate() error {
	if c.StateDir == "" || c.RepoRoot == "" {
		return errors.New("state dir and repo root are required")
	}
	addrs := map[string]string{
		"proxy":           c.ProxyAddr,
		"haproxy metrics": c.HAProxyMetricsAddr,
		"prometheus":      c.PrometheusAddr,
		"pushgateway":     c.PushgatewayAddr,
		"slot a":          c.Slots[0].Addr,
		"slot a admin":    c.Slots[0].AdminAddr,
		"slot b":          c.Slots[1].Addr,
		"slot b admin":    c.Slots[1].AdminAddr,
	}
	switch c.Store {
	case "", StoreSQLite:
	case StorePostgres:
		addrs["postgres"] = c.PostgresAddr
	default:
		return fmt.Errorf("store %q: want %s or %s", c.Store, StoreSQLite, StorePostgres)
	}
	if c.Replicas < 0 || c.Replicas > 9 {
		return fmt.Errorf("replicas %d: want 1 to 9", c.Replicas)
	}
	for _, s := range c.Slots {
		if len(s.More) < c.StableReplicas()-1 {
			return fmt.Errorf("slot %s has addresses for %d replicas, %d wanted: give more replica addresses", s.Name, 1+len(s.More), c.StableReplicas())
		}
		for i, e := range s.Endpoints(c.StableReplicas())[1:] {
			addrs[fmt.Sprintf("slot %s replica %d", s.Name, i+2)] = e.Addr
			addrs[fmt.Sprintf("slot %s replica %d admin", s.Name, i+2)] = e.AdminAddr
		}
	}
	seen := map[string]string{}
	for name, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("%s address %q: %w", name, a, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%s address %q: the local stack listens on loopback only", name, a)
		}
		if _, err := strconv.Atoi(port); err != nil {
			return fmt.Errorf("%s address %q: bad port", name, a)
		}
		if other, dup := seen[a]; dup {
			return fmt.Errorf("%s and %s both use %s", name, other, a)
		}
		seen[a] = name
	}
	if time.Duration(c.ScrapeInterval) <= 0 {
		return errors.New("scrape interval must be positive")
	}
	return nil
}

// Paths of the state folder's contents.
func (c Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// ConfigFile is <state>/stack.json.
func (c Config) ConfigFile() string { return c.path("stack.json") }

// Socket is HAProxy's runtime API socket.
func (c Config) Socket() string { return c.path("haproxy.sock") }

// DBPath is the SQLite file shared by stable and canary.
func (c Config) DBPath() string { return c.path("data", "shortener.db") }

// PostgresDir holds the stack's PostgreSQL cluster and its password.
func (c Config) PostgresDir() string { return c.path("postgres") }

// TargetsDir holds the file-based service discovery files.
func (c Config) TargetsDir() string { return c.path("targets") }

// ReleaseDir holds the binaries of one version.
func (c Config) ReleaseDir(version string) string { return c.path("releases", version) }

// PrometheusURL is the base URL of the stack's Prometheus.
func (c Config) PrometheusURL() string { return "http://" + c.PrometheusAddr }

// PushgatewayURL is the base URL of the stack's Pushgateway.
func (c Config) PushgatewayURL() string { return "http://" + c.PushgatewayAddr }

// ProxyURL is the base URL users reach the service at.
func (c Config) ProxyURL() string { return "http://" + c.ProxyAddr }

// SlotByName returns the slot with that name.
func (c Config) SlotByName(name string) (Slot, error) {
	for _, s := range c.Slots {
		if s.Name == name {
			return s, nil
		}
	}
	return Slot{}, fmt.Errorf("no slot %q", name)
}

// OtherSlot returns the slot that is not name.
func (c Config) OtherSlot(name string) Slot {
	if c.Slots[0].Name == name {
		return c.Slots[1]
	}
	return c.Slots[0]
}

// Save writes the config to <state>/stack.json.
func (c Config) Save() error {
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.ConfigFile(), append(b, '\n'))
}

// LoadConfig reads <state>/stack.json. It returns an error wrapping
// fs.ErrNotExist when the stack was never started there.
func LoadConfig(stateDir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(stateDir, "stack.json"))
	if err != nil {
		return c, fmt.Errorf("read stack config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", filepath.Join(stateDir, "stack.json"), err)
	}
	return c, nil
}

// writeFileAtomic writes via a temporary file and a rename, so readers
// (Prometheus' file discovery, a concurrent status) never see half a file.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
