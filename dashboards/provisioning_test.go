package dashboards

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// grafanaExpand expands environment variables the way Grafana does in its
// provisioning files: $NAME and ${NAME}, an unset variable is empty, and
// $$ stands for a literal $.
func grafanaExpand(s string, getenv func(string) string) string {
	parts := strings.Split(s, "$$")
	for i, p := range parts {
		parts[i] = os.Expand(p, getenv)
	}
	return strings.Join(parts, "$")
}

func TestGrafanaExpand(t *testing.T) {
	env := map[string]string{"A": "/srv/a", "B": "b"}
	get := func(k string) string { return env[k] }
	tests := []struct{ in, want string }{
		{"${A}", "/srv/a"},
		{"$A/x", "/srv/a/x"},
		{"${A}/${B}", "/srv/a/b"},
		{"${UNSET}/x", "/x"},
		{"cost $$5 for $B", "cost $5 for b"},
	}
	for _, tt := range tests {
		if got := grafanaExpand(tt.in, get); got != tt.want {
			t.Errorf("grafanaExpand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// provisioningFiles are the two files Grafana reads from its provisioning
// folder.
type provisioningFiles struct {
	datasourceURL string // as written, before expansion
	providerPath  string
}

func readProvisioning(t *testing.T) provisioningFiles {
	t.Helper()
	var dsFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, URL, Access string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("provisioning", "datasources", "prometheus.yaml"), &dsFile)
	if dsFile.APIVersion != 1 || len(dsFile.Datasources) != 1 {
		t.Fatalf("datasource provisioning: %+v", dsFile)
	}
	if d := dsFile.Datasources[0]; d.Type != "prometheus" || d.Access != "proxy" {
		t.Errorf("datasource %+v, want a prometheus proxy datasource", d)
	}
	var provFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type, Folder string
			Options            struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("provisioning", "dashboards", "shortener.yaml"), &provFile)
	if provFile.APIVersion != 1 || len(provFile.Providers) != 1 || provFile.Providers[0].Type != "file" {
		t.Fatalf("dashboard provisioning: %+v", provFile)
	}
	return provisioningFiles{datasourceURL: dsFile.Datasources[0].URL, providerPath: provFile.Providers[0].Options.Path}
}

var (
	shellExport = regexp.MustCompile(`(?m)^export ([A-Z_]+)=(?:"([^"]*)"|(\S+))`)
	dockerEnv   = regexp.MustCompile(`-e ([A-Z_]+)=(\S+)`)
	dockerMount = regexp.MustCompile(`-v "([^"]+)"`)
)

// TestProvisioningAsTheREADMESaysToRunIt follows the README's two recipes,
// grafana-server from the repository root and the container, with the
// environment each sets: the provider path, as Grafana expands it, must be
// the folder holding the dashboards, the provisioning path the folder
// holding these provisioning files, and the datasource URL a Prometheus URL.
func TestProvisioningAsTheREADMESaysToRunIt(t *testing.T) {
	files := readProvisioning(t)
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(here) // the README's commands run from the repository root
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	shell := func(env map[string]string) func(string) string {
		return func(k string) string {
			if k == "PWD" {
				return root
			}
			return env[k]
		}
	}

	checkGrafanaEnv := func(t *testing.T, env map[string]string, onHost func(string) string) {
		t.Helper()
		get := func(k string) string { return env[k] }
		dash := grafanaExpand(files.providerPath, get)
		if !filepath.IsAbs(dash) {
			t.Fatalf("provider path %q expands to %q: not absolute, so it depends on Grafana's working folder", files.providerPath, dash)
		}
		if got := onHost(dash); filepath.Clean(got) != here {
			t.Errorf("provider path %q expands to %q (%q on this machine), want the dashboards folder %q", files.providerPath, dash, got, here)
		}
		for _, d := range mustLoad(t) {
			if _, err := os.Stat(filepath.Join(onHost(dash), d.File)); err != nil {
				t.Errorf("the provider path does not hold %s: %v", d.File, err)
			}
		}
		prov := onHost(env["GF_PATHS_PROVISIONING"])
		for _, f := range []string{"dashboards/shortener.yaml", "datasources/prometheus.yaml"} {
			if _, err := os.Stat(filepath.Join(prov, f)); err != nil {
				t.Errorf("GF_PATHS_PROVISIONING=%q: Grafana would not find %s: %v", env["GF_PATHS_PROVISIONING"], f, err)
			}
		}
		u, err := url.Parse(grafanaExpand(files.datasourceURL, get))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Errorf("datasource url %q expands to %q: want the http(s) URL of a Prometheus", files.datasourceURL, grafanaExpand(files.datasourceURL, get))
		}
	}

	t.Run("grafana-server from the repository root", func(t *testing.T) {
		env := map[string]string{}
		for _, m := range shellExport.FindAllStringSubmatch(readme, -1) {
			v := m[2] + m[3]
			if strings.Contains(v, "$(") {
				continue // a command substitution (a scratch folder): not a path we check
			}
			env[m[1]] = os.Expand(v, shell(env))
		}
		for _, k := range []string{"SHORTENER_DASHBOARDS", "PROMETHEUS_URL", "GF_PATHS_PROVISIONING"} {
			if env[k] == "" {
				t.Fatalf("README.md exports no %s for grafana-server (found %v)", k, env)
			}
		}
		checkGrafanaEnv(t, env, func(p string) string { return p })
	})

	t.Run("container", func(t *testing.T) {
		env := map[string]string{}
		for _, m := range dockerEnv.FindAllStringSubmatch(readme, -1) {
			env[m[1]] = m[2]
		}
		mounts := dockerMount.FindAllStringSubmatch(readme, -1)
		if len(mounts) != 1 || env["SHORTENER_DASHBOARDS"] == "" || env["GF_PATHS_PROVISIONING"] == "" {
			t.Fatalf("README.md's container recipe: mounts %v, environment %v; want one mount and both paths", mounts, env)
		}
		src, dst, _ := strings.Cut(mounts[0][1], ":")
		dst, _, _ = strings.Cut(dst, ":") // drop :ro
		src = os.Expand(src, shell(nil))
		// A path in the container is the mounted folder on the host.
		onHost := func(p string) string {
			rel, err := filepath.Rel(dst, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Fatalf("%q is outside the mounted %q: the container does not see it", p, dst)
			}
			return filepath.Join(src, rel)
		}
		checkGrafanaEnv(t, env, onHost)
	})

	for _, v := range []string{"SHORTENER_DASHBOARDS", "PROMETHEUS_URL", "paths.provisioning"} {
		if !strings.Contains(readme, v) {
			t.Errorf("README.md does not explain %s", v)
		}
	}
}
