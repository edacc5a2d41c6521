package repocheck_test

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/obsshort/shortener/internal/testenv"
)

// layoutRow is one row of the README's "How it is built" table.
type layoutRow struct {
	folders []string // the first column
	paths   []string // paths named in the second column
}

var backticked = regexp.MustCompile("`([^`]+)`")

// layoutTable reads the first table after the "## How it is built" heading.
func layoutTable(readme string) []layoutRow {
	var rows []layoutRow
	in, table := false, false
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			if table {
				return rows
			}
			in = line == "## How it is built"
			continue
		case !in:
			continue
		case !strings.HasPrefix(line, "|"):
			if table {
				return rows
			}
			continue
		}
		table = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 || strings.Trim(cells[0], " -") == "" || strings.TrimSpace(cells[0]) == "folder" {
			continue // header and separator
		}
		var r layoutRow
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			r.folders = append(r.folders, strings.TrimSuffix(m[1], "/"))
		}
		for _, m := range backticked.FindAllStringSubmatch(strings.Join(cells[1:], "|"), -1) {
			if strings.Contains(m[1], "/") && !strings.ContainsAny(m[1], " ()") {
				r.paths = append(r.paths, strings.TrimSuffix(m[1], "/"))
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// layoutProblems checks the table against the repository's files (paths
// relative to its root, slash-separated): every folder a row names exists,
// every path it mentions under a top-level folder exists, every top-level
// folder has a row at or inside it, and every Go package folder has a row
// naming it or a folder above it.
func layoutProblems(readme string, files []string) []string {
	var problems []string
	rows := layoutTable(readme)
	if len(rows) == 0 {
		return []string{`README.md has no table under "## How it is built"`}
	}
	exists := map[string]bool{} // every file and folder
	top := map[string]bool{}    // top-level folders
	pkgs := map[string]bool{}   // folders holding Go packages
	for _, f := range files {
		exists[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			exists[d+"/"] = true
			if !strings.Contains(d, "/") {
				top[d] = true
			}
		}
		if strings.HasSuffix(f, ".go") && !ignoredByGo(f) {
			pkgs[path.Dir(f)] = true
		}
	}
	var named []string
	for _, r := range rows {
		for _, f := range r.folders {
			if !exists[f+"/"] {
				problems = append(problems, "the table names folder "+f+", which does not exist")
			}
			named = append(named, f)
		}
		for _, p := range r.paths {
			first, _, _ := strings.Cut(p, "/")
			if top[first] && !exists[p] && !exists[p+"/"] {
				problems = append(problems, "the table mentions "+p+", which does not exist")
			}
		}
	}
	for _, d := range sortedKeys(top) {
		if !slices.ContainsFunc(named, func(f string) bool { return f == d || strings.HasPrefix(f, d+"/") }) {
			problems = append(problems, "top-level folder "+d+"/ has no row")
		}
	}
	for _, d := range sortedKeys(pkgs) {
		if d == "." {
			continue
		}
		if !slices.ContainsFunc(named, func(f string) bool { return d == f || strings.HasPrefix(d, f+"/") }) {
			problems = append(problems, "Go package folder "+d+" is in no row (name it, or a folder above it)")
		}
	}
	return problems
}

// ignoredByGo: testdata and folders starting with _ or . hold no packages.
func ignoredByGo(f string) bool {
	for _, part := range strings.Split(path.Dir(f), "/") {
		if part == "testdata" || strings.HasPrefix(part, "_") || (strings.HasPrefix(part, ".") && part != ".") {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestREADMELayoutMatchesTheTree keeps the README's layout table true: it
// names only folders that exist, and every top-level folder and every Go
// package folder of the repository has a row.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	root := testenv.ModuleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Tracked files and new ones not ignored: a package added but not yet
	// committed needs its row too; build outputs and state do not.
	cmd := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			continue // deleted in the work tree
		}
		files = append(files, f)
	}
	for _, p := range layoutProblems(string(readme), files) {
		t.Error(p)
	}
}

func TestLayoutProblems(t *testing.T) {
	const readme = "# x\n\n## How it is built\n\n" +
		"| folder | what lives there |\n|---|---|\n" +
		"| `app/` | the app; fakes in `app/mock` |\n" +
		"| `ci/gate`, `ci/cmd/gate` | the gate; `ci/canary.yaml` its config (html/template) |\n" +
		"\nmore text\n\n## Next\n\n| `other/` | not the layout table |\n"
	files := []string{
		"go.mod", "README.md",
		"app/link.go", "app/mock/store.go", "app/sqlite/store.go", "app/testdata/x.go",
		"ci/gate/gate.go", "ci/cmd/gate/main.go", "ci/canary.yaml",
	}
	tests := []struct {
		name  string
		files []string
		want  []string // each a part of one problem; none: no problems
	}{
		{"matches", files, nil},
		{"folder gone", slices.DeleteFunc(slices.Clone(files), func(f string) bool { return strings.HasPrefix(f, "ci/cmd/") }),
			[]string{"names folder ci/cmd/gate"}},
		{"mentioned path gone", slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == "ci/canary.yaml" }),
			[]string{"mentions ci/canary.yaml"}},
		{"package without a row", append(slices.Clone(files), "ci/release/pipeline.go"),
			[]string{"ci/release is in no row"}},
		{"top-level folder without a row", append(slices.Clone(files), "docs/security.md"),
			[]string{"top-level folder docs/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := layoutProblems(readme, tt.files)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q, want one about %q", got[i], w)
				}
			}
		})
	}
	if got := layoutProblems("# no table\n", files); len(got) != 1 {
		t.Errorf("README without the table: %q, want one problem", got)
	}
}
