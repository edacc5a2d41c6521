// Package migration holds what the SQLite and PostgreSQL stores share about
// schema changes: the split into expand and contract steps, the order they
// apply in, and the rule that an expand step adds only.
//
// A release's schema change is cut in two (expand/contract, also called
// parallel change):
//
//   - expand steps add: tables, nullable columns or columns with a default,
//     indexes, triggers. The previous release keeps working on the schema
//     after them, so any process of the new release (a canary) applies them
//     when it starts, while the previous release still serves.
//   - contract steps remove what only the previous release needed (drop a
//     column, a table, add NOT NULL). They run only when an operator says so
//     (`shortener migrate --contract`) after the new release is promoted and
//     the previous one is gone, so a rollback never leaves old code on a
//     schema it cannot use.
//
// Each store embeds its steps as <dir>/expand/NNNN_name.sql and
// <dir>/contract/NNNN_name.sql; versions are unique across both folders and
// apply in version order.
package migration

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Kind says whether a step is safe while the previous release runs.
type Kind string

// Kinds of steps.
const (
	Expand   Kind = "expand"
	Contract Kind = "contract"
)

// Step is one migration file.
type Step struct {
	Version string // file name without .sql, e.g. "0001_links"; recorded when applied
	Kind    Kind
	SQL     string
}

// Load reads the steps under dir/expand and dir/contract of fsys, checks
// them (unique versions, expand steps only add) and returns them in the
// order they apply. A store without any expand step is an error: every
// build has a schema.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	var steps []Step
	seen := map[string]Kind{}
	for _, kind := range []Kind{Expand, Contract} {
		sub := path.Join(dir, string(kind))
		entries, err := fs.ReadDir(fsys, sub)
		if errors.Is(err, fs.ErrNotExist) && kind == Contract {
			continue // no contract step yet
		}
		if err != nil {
			return nil, fmt.Errorf("list %s migrations: %w", kind, err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
				continue
			}
			version := strings.TrimSuffix(e.Name(), ".sql")
			if other, dup := seen[version]; dup {
				return nil, fmt.Errorf("migration %s is both in %s/ and %s/: a version names one step", version, other, kind)
			}
			seen[version] = kind
			body, err := fs.ReadFile(fsys, path.Join(sub, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("read migration %s: %w", version, err)
			}
			s := Step{Version: version, Kind: kind, SQL: string(body)}
			if kind == Expand {
				if err := CheckExpand(s); err != nil {
					return nil, err
				}
			}
			steps = append(steps, s)
		}
	}
	if len(Filter(steps, Expand)) == 0 {
		return nil, fmt.Errorf("list migrations: no .sql file in %s/expand", dir)
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	return steps, nil
}

// Filter returns the steps of one kind, in order.
func Filter(steps []Step, kind Kind) []Step {
	var out []Step
	for _, s := range steps {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// Pending returns the steps not yet applied that a run may apply: the
// expand steps, and with contract also the contract steps, in version order.
func Pending(steps []Step, applied map[string]bool, contract bool) []Step {
	var out []Step
	for _, s := range steps {
		if applied[s.Version] || (s.Kind == Contract && !contract) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// destructive are statements that remove or reshape what a running release
// may use. An expand step holding one is refused at load (and so fails the
// build's tests): it belongs in contract/. This is the cheap first line;
// the stores' compatibility tests run the previous release's statements on
// the expanded schema and catch what a pattern cannot.
var destructive = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN|VIEW|INDEX|TRIGGER|FUNCTION|SCHEMA|CONSTRAINT|TYPE)\b`), "drops"},
	{regexp.MustCompile(`(?i)\bALTER\s+TABLE\b[^;]*\bDROP\b`), "drops"},
	{regexp.MustCompile(`(?i)\bRENAME\b`), "renames"},
	{regexp.MustCompile(`(?i)\bSET\s+NOT\s+NULL\b`), "adds NOT NULL to an existing column"},
	{regexp.MustCompile(`(?i)\bALTER\s+COLUMN\b[^;]*\bTYPE\b`), "changes a column type"},
	{regexp.MustCompile(`(?i)\bTRUNCATE\b`), "truncates"},
	{regexp.MustCompile(`(?i)\bDELETE\s+FROM\b`), "deletes rows"},
}

// addColumn matches ADD [COLUMN] clauses up to the next comma or semicolon.
var addColumn = regexp.MustCompile(`(?i)\bADD\s+(COLUMN\s+)?[^;,]*`)

// CheckExpand refuses an expand step that is not purely additive: one that
// drops, renames, narrows, or adds a NOT NULL column without a default
// (which the previous release's INSERTs would not fill).
func CheckExpand(s Step) error {
	sql := stripComments(s.SQL)
	for _, d := range destructive {
		if m := d.re.FindString(sql); m != "" {
			return fmt.Errorf("expand migration %s %s (%q): the previous release may still use it; move the step to contract/ (run after promotion by `shortener migrate --contract`)", s.Version, d.what, strings.TrimSpace(m))
		}
	}
	for _, m := range addColumn.FindAllString(sql, -1) {
		u := strings.ToUpper(m)
		if strings.Contains(u, "NOT NULL") && !strings.Contains(u, "DEFAULT") && !strings.Contains(u, "CONSTRAINT") {
			return fmt.Errorf("expand migration %s adds a NOT NULL column without a default (%q): the previous release's INSERTs do not fill it; give it a default, or add it nullable and set NOT NULL in a contract step", s.Version, strings.TrimSpace(m))
		}
	}
	return nil
}

// stripComments removes -- line comments and /* */ blocks, so that words in
// comments do not count as statements.
func stripComments(sql string) string {
	var b strings.Builder
	for i := 0; i < len(sql); i++ {
		switch {
		case strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return b.String()
			}
			i += j
			b.WriteByte('\n')
		case strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i:], "*/")
			if j < 0 {
				return b.String()
			}
			i += j + 1
			b.WriteByte(' ')
		default:
			b.WriteByte(sql[i])
		}
	}
	return b.String()
}

// Verify tells whether a schema with the applied steps (version -> kind) is
// current for a build with steps: every expand step of the build is
// applied, and no contract step the build does not know is (a newer release
// has removed what this build may still use).
func Verify(steps []Step, applied map[string]Kind) error {
	known := map[string]bool{}
	for _, s := range steps {
		known[s.Version] = true
	}
	var missing, newer []string
	for _, s := range Filter(steps, Expand) {
		if _, ok := applied[s.Version]; !ok {
			missing = append(missing, s.Version)
		}
	}
	for v, k := range applied {
		if k == Contract && !known[v] {
			newer = append(newer, v)
		}
	}
	sort.Strings(newer)
	switch {
	case len(missing) > 0:
		return fmt.Errorf("database schema not current: expand steps %s not applied", strings.Join(missing, ", "))
	case len(newer) > 0:
		return fmt.Errorf("database schema contracted by a newer release (steps %s); this build predates it and may rely on what was removed", strings.Join(newer, ", "))
	}
	return nil
}

// Versions returns the versions of applied steps in order.
func Versions(applied map[string]Kind) []string {
	out := make([]string, 0, len(applied))
	for v := range applied {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
