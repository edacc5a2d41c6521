package release

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pm "github.com/obsshort/shortener/ci/release/metricnames"
)

// TestNoSecondCopyOfTheContract: the pipeline names stages, results,
// outcomes and metrics only through ci/release/metricnames. A constant here
// with one of those values (StagePreflight once was one) would let the
// dashboard's contract and what the pipeline pushes drift apart.
func TestNoSecondCopyOfTheContract(t *testing.T) {
	contract := map[string]string{}
	for _, s := range pm.Stages() {
		contract[s] = "stage"
	}
	for _, s := range []string{pm.ResultSuccess, pm.ResultFailure} {
		contract[s] = "result"
	}
	for _, s := range []string{pm.OutcomePromoted, pm.OutcomeRolledBack, pm.OutcomeFailed} {
		contract[s] = "outcome"
	}
	for _, s := range append(pm.Names(), pm.JobName) {
		contract[s] = "metric or job name"
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(file, func(n ast.Node) bool {
			d, ok := n.(*ast.GenDecl)
			if !ok || (d.Tok != token.CONST && d.Tok != token.VAR) {
				return true
			}
			for _, spec := range d.Specs {
				for i, v := range spec.(*ast.ValueSpec).Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, _ := strconv.Unquote(lit.Value)
					if kind, dup := contract[s]; dup {
						t.Errorf("%s: %s = %q repeats a %s of ci/release/metricnames; use the constant there",
							fset.Position(lit.Pos()), spec.(*ast.ValueSpec).Names[i], s, kind)
					}
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
