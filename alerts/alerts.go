// Package alerts holds the Prometheus recording and alerting rules of the
// shortener (the *.yml files beside this one), their promtool unit tests
// (tests/) and the runbook the alerts link to. The Go code only exposes the
// embedded rule files so tests elsewhere (dashboards/) can evaluate every
// rule expression and check every metric name it uses.
package alerts

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"go.yaml.in/yaml/v3"
)

//go:embed *.yml
var ruleFS embed.FS

// Rule is one recording or alerting rule, as Prometheus reads it.
type Rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`

	// File and Group say where the rule is defined (filled by Load).
	File  string `yaml:"-"`
	Group string `yaml:"-"`
}

// Name is the recorded series name or the alert name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// FileNames returns the names of the rule files in this folder (for example
// "alerts.yml"), sorted: the list to give Prometheus as rule_files.
func FileNames() ([]string, error) {
	names, err := fs.Glob(ruleFS, "*.yml")
	if err != nil {
		return nil, fmt.Errorf("list rule files: %w", err)
	}
	sort.Strings(names)
	return names, nil
}

// Load parses every rule file and returns all rules in file order.
func Load() ([]Rule, error) {
	names, err := FileNames()
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, name := range names {
		b, err := ruleFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				r.File, r.Group = path.Base(name), g.Name
				rules = append(rules, r)
			}
		}
	}
	return rules, nil
}

// RecordedNames returns the series names the recording rules define; they
// are valid metric names for dashboards and other rules to query.
func RecordedNames(rules []Rule) []string {
	var names []string
	for _, r := range rules {
		if r.Record != "" {
			names = append(names, r.Record)
		}
	}
	return names
}
