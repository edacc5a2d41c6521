package testfacts

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// The syntax tree is read without type checking: fast (the whole module
// in well under a second), and enough for what is counted. A testing
// value is a parameter (of the function or of any function literal in it)
// typed *testing.T, *testing.B, *testing.F or testing.TB, or a struct
// field of such a type in the same package; an assertion is a call of one
// of assertMethods on it.
var assertMethods = map[string]bool{"Error": true, "Errorf": true, "Fatal": true, "Fatalf": true, "Fail": true, "FailNow": true}

// srcFile is one parsed file and what resolving names in it needs.
type srcFile struct {
	ast     *ast.File
	ipath   string // import path of the package (without _test)
	pkgKey  string // ipath, plus "_test" for an external test package
	isTest  bool   // a _test.go file
	testing string // local name of the testing import ("" when not imported)
	// imports maps local names to module-internal import paths.
	imports map[string]string
}

// fnInfo is one function or method declaration of the module.
type fnInfo struct {
	file    *srcFile
	decl    *ast.FuncDecl
	testing map[string]bool // testing values in scope (params of it and its literals)
	// testingParam says a parameter of the declaration itself is a
	// testing value: such helpers are matched across packages.
	testingParam bool
	asserting    bool
}

// scan is the state of one ScanSource call.
type scan struct {
	module string
	files  []*srcFile
	// funcs by pkgKey+"."+name; methods by name.
	funcs   map[string]*fnInfo
	methods map[string][]*fnInfo
	// structFields by ipath and type name: field names in order, for
	// positional composite literals of test tables.
	structFields map[string]map[string][]string
	// testingFields by ipath: struct fields holding a testing value.
	testingFields map[string]map[string]bool
}

// Inventory is what else the scan found in the packages in scope.
type Inventory struct {
	// Fuzz lists fuzz targets as package directory ("./app") and name.
	Fuzz []Target
	// BenchDirs are the package directories with a baseline benchmark
	// (BaselineBenchmarks): their benchmarks yield guard ratios.
	BenchDirs []string
}

// Target is one fuzz target: its package's directory ("./app") and
// import path, and its name.
type Target struct{ Dir, Package, Name string }

// ScanSource reads every Go file of the module at root and records, for the
// packages matching patterns (as given to go test: "./...", "./app",
// "./ci/..."), each Test and Fuzz function's assertions and expected
// values, and the expected values in package-level test tables.
func (f *Facts) ScanSource(root string, patterns []string) (Inventory, error) {
	var inv Inventory
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return inv, fmt.Errorf("scan test source: %w", err)
	}
	s := &scan{
		module:        modfile.ModulePath(gomod),
		funcs:         map[string]*fnInfo{},
		methods:       map[string][]*fnInfo{},
		structFields:  map[string]map[string][]string{},
		testingFields: map[string]map[string]bool{},
	}
	if s.module == "" {
		return inv, fmt.Errorf("scan test source: no module path in %s", filepath.Join(root, "go.mod"))
	}
	if err := s.parse(root); err != nil {
		return inv, err
	}
	s.index()
	s.resolveHelpers()
	benchDirs := map[string]bool{}
	for _, sf := range s.files {
		rel := strings.TrimPrefix(strings.TrimPrefix(sf.ipath, s.module), "/")
		if !sf.isTest || !matchAny(rel, patterns, s.module) {
			continue
		}
		dir := "./" + rel
		if rel == "" {
			dir = "."
		}
		p := f.pkg(sf.ipath)
		for _, d := range sf.ast.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && slices.Contains(BaselineBenchmarks, d.Name.Name) {
					benchDirs[dir] = true
				}
				if !isTestFunc(d, sf.testing) {
					continue
				}
				if strings.HasPrefix(d.Name.Name, "Fuzz") {
					inv.Fuzz = append(inv.Fuzz, Target{Dir: dir, Package: sf.ipath, Name: d.Name.Name})
				}
				fi := s.funcs[sf.pkgKey+"."+d.Name.Name]
				if p.Functions == nil {
					p.Functions = map[string]Function{}
				}
				p.Functions[d.Name.Name] = s.function(fi)
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok {
						continue
					}
					for i, name := range vs.Names {
						exp := map[string]int{}
						for j, v := range vs.Values {
							if wantish(name.Name) && (len(vs.Values) != len(vs.Names) || i == j) {
								literals(v, exp)
							} else if len(vs.Values) == len(vs.Names) && i == j {
								s.tableExpectations(v, sf, vs.Type, exp)
							}
						}
						if len(exp) > 0 {
							if p.Shared == nil {
								p.Shared = map[string]map[string]int{}
							}
							p.Shared[name.Name] = exp
						}
					}
				}
			}
		}
	}
	inv.BenchDirs = slices.Sorted(maps.Keys(benchDirs))
	sort.Slice(inv.Fuzz, func(i, j int) bool {
		if inv.Fuzz[i].Dir != inv.Fuzz[j].Dir {
			return inv.Fuzz[i].Dir < inv.Fuzz[j].Dir
		}
		return inv.Fuzz[i].Name < inv.Fuzz[j].Name
	})
	return inv, nil
}

func (s *scan) parse(root string) error {
	fset := token.NewFileSet()
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		file, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("scan test source: %w", err)
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		ipath := s.module
		if rel != "." {
			ipath += "/" + filepath.ToSlash(rel)
		}
		sf := &srcFile{ast: file, ipath: ipath, pkgKey: ipath, isTest: strings.HasSuffix(p, "_test.go"), imports: map[string]string{}}
		if strings.HasSuffix(file.Name.Name, "_test") {
			sf.pkgKey += "_test"
		}
		for _, imp := range file.Imports {
			ip := strings.Trim(imp.Path.Value, `"`)
			local := path.Base(ip)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			if ip == "testing" {
				sf.testing = local
			}
			if ip == s.module || strings.HasPrefix(ip, s.module+"/") {
				sf.imports[local] = ip
			}
		}
		s.files = append(s.files, sf)
		return nil
	})
}

// isTestingType reports *testing.T, *testing.B, *testing.F and testing.TB.
func isTestingType(e ast.Expr, testing string) bool {
	if testing == "" {
		return false
	}
	if st, ok := e.(*ast.StarExpr); ok {
		sel, ok := st.X.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := sel.X.(*ast.Ident)
		return ok && x.Name == testing && (sel.Sel.Name == "T" || sel.Sel.Name == "B" || sel.Sel.Name == "F")
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == testing && sel.Sel.Name == "TB"
}

// isTestFunc reports func TestXxx(t *testing.T) and func FuzzXxx(f *testing.F).
func isTestFunc(d *ast.FuncDecl, testing string) bool {
	if d.Recv != nil || d.Type.Params == nil || len(d.Type.Params.List) != 1 {
		return false
	}
	name := d.Name.Name
	for _, prefix := range []string{"Test", "Fuzz"} {
		rest, ok := strings.CutPrefix(name, prefix)
		if ok && (rest == "" || !(rest[0] >= 'a' && rest[0] <= 'z')) {
			return isTestingType(d.Type.Params.List[0].Type, testing)
		}
	}
	return false
}

// index records every declaration, struct type and testing field.
func (s *scan) index() {
	for _, sf := range s.files {
		if s.structFields[sf.ipath] == nil {
			s.structFields[sf.ipath] = map[string][]string{}
			s.testingFields[sf.ipath] = map[string]bool{}
		}
		for _, d := range sf.ast.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				fi := &fnInfo{file: sf, decl: d, testing: map[string]bool{}}
				for _, fl := range d.Type.Params.List {
					if isTestingType(fl.Type, sf.testing) {
						fi.testingParam = true
						for _, n := range fl.Names {
							fi.testing[n.Name] = true
						}
					}
				}
				if d.Body != nil {
					ast.Inspect(d.Body, func(n ast.Node) bool {
						if lit, ok := n.(*ast.FuncLit); ok {
							for _, fl := range lit.Type.Params.List {
								if isTestingType(fl.Type, sf.testing) {
									for _, n := range fl.Names {
										fi.testing[n.Name] = true
									}
								}
							}
						}
						return true
					})
				}
				if d.Recv == nil {
					s.funcs[sf.pkgKey+"."+d.Name.Name] = fi
				} else {
					s.methods[d.Name.Name] = append(s.methods[d.Name.Name], fi)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok {
						continue
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					s.structFields[sf.ipath][ts.Name.Name] = fieldNames(st)
					for _, fl := range st.Fields.List {
						if isTestingType(fl.Type, sf.testing) {
							for _, n := range fl.Names {
								s.testingFields[sf.ipath][n.Name] = true
							}
						}
					}
				}
			}
		}
	}
}

// fieldNames lists a struct's fields in order; an embedded field is named
// by its type.
func fieldNames(st *ast.StructType) []string {
	var out []string
	for _, fl := range st.Fields.List {
		if len(fl.Names) == 0 {
			t := fl.Type
			if star, ok := t.(*ast.StarExpr); ok {
				t = star.X
			}
			switch t := t.(type) {
			case *ast.Ident:
				out = append(out, t.Name)
			case *ast.SelectorExpr:
				out = append(out, t.Sel.Name)
			default:
				out = append(out, "")
			}
			continue
		}
		for _, n := range fl.Names {
			out = append(out, n.Name)
		}
	}
	return out
}

// isAssertCall reports a call of Error, Fatal, ... on a testing value.
func (s *scan) isAssertCall(call *ast.CallExpr, fi *fnInfo) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !assertMethods[sel.Sel.Name] {
		return false
	}
	switch x := sel.X.(type) {
	case *ast.Ident:
		return fi.testing[x.Name]
	case *ast.SelectorExpr:
		return s.testingFields[fi.file.ipath][x.Sel.Name]
	}
	return false
}

// callees returns the declarations a call may reach (none for calls out
// of the module).
func (s *scan) callees(call *ast.CallExpr, fi *fnInfo) []*fnInfo {
	switch fun := call.Fun.(type) {
	case *ast.Ident:
		if c := s.funcs[fi.file.pkgKey+"."+fun.Name]; c != nil {
			return []*fnInfo{c}
		}
		// An external test package may call the package's exported
		// helpers only through an import; an in-package name is enough.
		return nil
	case *ast.SelectorExpr:
		if x, ok := fun.X.(*ast.Ident); ok {
			if fi.testing[x.Name] {
				return nil // t.Run, t.Helper, ...
			}
			if ip, ok := fi.file.imports[x.Name]; ok {
				if c := s.funcs[ip+"."+fun.Sel.Name]; c != nil {
					return []*fnInfo{c}
				}
				return nil
			}
		}
		// A method: the same name in this package, or a method with a
		// testing parameter anywhere when this call passes one.
		passesT := false
		for _, a := range call.Args {
			if id, ok := a.(*ast.Ident); ok && fi.testing[id.Name] {
				passesT = true
			}
		}
		var out []*fnInfo
		for _, m := range s.methods[fun.Sel.Name] {
			if m.file.ipath == fi.file.ipath || (passesT && m.testingParam) {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// resolveHelpers marks every declaration that can fail a test: it asserts
// itself or calls one that does (to a fixed point).
func (s *scan) resolveHelpers() {
	var all []*fnInfo
	for _, fi := range s.funcs {
		all = append(all, fi)
	}
	for _, ms := range s.methods {
		all = append(all, ms...)
	}
	type edge struct{ calls [][]*fnInfo }
	edges := map[*fnInfo]*edge{}
	for _, fi := range all {
		if fi.decl.Body == nil {
			continue
		}
		e := &edge{}
		ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
			// A function named as a value (a table of checks run by
			// t.Run) counts as called: storetest.Run asserts through
			// the functions it is handed in its table.
			if id, ok := n.(*ast.Ident); ok {
				if c := s.funcs[fi.file.pkgKey+"."+id.Name]; c != nil && c != fi {
					e.calls = append(e.calls, []*fnInfo{c})
				}
				return true
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if s.isAssertCall(call, fi) {
				fi.asserting = true
			} else if c := s.callees(call, fi); len(c) > 0 {
				e.calls = append(e.calls, c)
			}
			return true
		})
		edges[fi] = e
	}
	for changed := true; changed; {
		changed = false
		for _, fi := range all {
			if fi.asserting || edges[fi] == nil {
				continue
			}
			for _, cs := range edges[fi].calls {
				if anyAsserting(cs) {
					fi.asserting, changed = true, true
					break
				}
			}
		}
	}
}

func anyAsserting(fs []*fnInfo) bool {
	for _, f := range fs {
		if f.asserting {
			return true
		}
	}
	return false
}

// asserts reports whether a call can fail the test, directly or through a
// helper.
func (s *scan) asserts(call *ast.CallExpr, fi *fnInfo) bool {
	return s.isAssertCall(call, fi) || anyAsserting(s.callees(call, fi))
}

// function counts a test function's assertions and collects its expected
// values.
func (s *scan) function(fi *fnInfo) Function {
	out := Function{Expectations: map[string]int{}}
	if fi == nil || fi.decl.Body == nil {
		return out
	}
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if s.isAssertCall(n, fi) {
				out.Assertions++
			} else if anyAsserting(s.callees(n, fi)) {
				out.Assertions++
				for _, a := range n.Args {
					if id, ok := a.(*ast.Ident); ok && fi.testing[id.Name] {
						continue
					}
					literals(a, out.Expectations)
				}
			}
		case *ast.IfStmt:
			if s.blockAsserts(n.Body, fi) || (n.Else != nil && s.blockAsserts(n.Else, fi)) {
				if n.Init != nil {
					literals(n.Init, out.Expectations)
				}
				literals(n.Cond, out.Expectations)
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				id, ok := l.(*ast.Ident)
				if !ok || !wantish(id.Name) {
					continue
				}
				if len(n.Rhs) == len(n.Lhs) {
					literals(n.Rhs[i], out.Expectations)
				} else {
					for _, r := range n.Rhs {
						literals(r, out.Expectations)
					}
				}
			}
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if wantish(id.Name) && i < len(n.Values) {
					literals(n.Values[i], out.Expectations)
				}
			}
		case *ast.CompositeLit:
			// An elided literal inside a slice or map literal is read
			// with its parent, which knows its type.
			if n.Type != nil {
				s.compositeExpectations(n, fi.file, nil, out.Expectations)
			}
		}
		return true
	})
	if len(out.Expectations) == 0 {
		out.Expectations = nil
	}
	return out
}

// blockAsserts reports whether a block (or else-branch) contains a call
// that can fail the test.
func (s *scan) blockAsserts(n ast.Node, fi *fnInfo) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok && s.asserts(call, fi) {
			found = true
		}
		return !found
	})
	return found
}

// tableExpectations collects the want* fields of a package-level value.
func (s *scan) tableExpectations(v ast.Expr, sf *srcFile, typ ast.Expr, exp map[string]int) {
	ast.Inspect(v, func(n ast.Node) bool {
		if cl, ok := n.(*ast.CompositeLit); ok {
			switch {
			case cl == v && cl.Type == nil && typ != nil:
				s.compositeExpectations(cl, sf, s.structOf(typ, sf), exp)
			case cl.Type != nil:
				s.compositeExpectations(cl, sf, nil, exp)
			}
		}
		return true
	})
}

// compositeExpectations collects, from one composite literal, the values
// of keyed want*/expect* fields, and for a slice or map of structs the
// positional elements whose field is named so. fields, when not nil, are
// the literal's own struct fields (known from outside).
func (s *scan) compositeExpectations(cl *ast.CompositeLit, sf *srcFile, fields []string, exp map[string]int) {
	if fields == nil && cl.Type != nil {
		fields = s.structOf(cl.Type, sf)
	}
	s.structElements(cl, fields, exp)
	// Elements of a slice, array or map literal with an elided type.
	var elt ast.Expr
	switch t := cl.Type.(type) {
	case *ast.ArrayType:
		elt = t.Elt
	case *ast.MapType:
		elt = t.Value
	}
	if elt == nil {
		return
	}
	ef := s.structOf(elt, sf) // nil for a type of another package: keyed fields only
	for _, e := range cl.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			e = kv.Value
		}
		if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
			e = u.X
		}
		if inner, ok := e.(*ast.CompositeLit); ok && inner.Type == nil {
			s.structElements(inner, ef, exp)
		}
	}
}

// structElements collects the want* values of one struct literal: keyed
// ones always, positional ones when the field names are known.
func (s *scan) structElements(cl *ast.CompositeLit, fields []string, exp map[string]int) {
	for i, e := range cl.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok && wantish(id.Name) {
				literals(kv.Value, exp)
			}
			continue
		}
		if i < len(fields) && wantish(fields[i]) {
			literals(e, exp)
		}
	}
}

// structOf returns the field names of a struct type expression: inline,
// a pointer to one, or a type declared in the package.
func (s *scan) structOf(t ast.Expr, sf *srcFile) []string {
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	switch t := t.(type) {
	case *ast.StructType:
		return fieldNames(t)
	case *ast.Ident:
		return s.structFields[sf.ipath][t.Name]
	}
	return nil
}

// wantish reports the names that hold an expected value by convention.
func wantish(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "want") || strings.HasPrefix(l, "expect")
}

// literals adds the literal tokens of an expression to exp: basic literals
// (with a sign), true, false and nil, and comparison and negation
// operators. Function literals inside are skipped: their bodies are
// visited on their own.
func literals(n ast.Node, exp map[string]int) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.BasicLit:
			exp[short(n.Value)]++
		case *ast.Ident:
			if n.Name == "true" || n.Name == "false" || n.Name == "nil" {
				exp[n.Name]++
			}
		case *ast.UnaryExpr:
			if lit, ok := n.X.(*ast.BasicLit); ok && (n.Op == token.SUB || n.Op == token.ADD) {
				exp[short(n.Op.String()+lit.Value)]++
				return false
			}
			if n.Op == token.NOT {
				exp["op !"]++
			}
		case *ast.BinaryExpr:
			switch n.Op {
			case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
				exp["op "+n.Op.String()]++
			}
		}
		return true
	})
}

// short keeps long literals (golden strings) readable in messages while
// still telling them apart.
func short(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:max], len(s))
}

// matchAny reports whether the package at rel (relative to the module
// root, "" for the root) matches one of the go test patterns.
func matchAny(rel string, patterns []string, module string) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(p, module)
		p = strings.TrimPrefix(strings.TrimPrefix(p, "."), "/")
		if p == "..." {
			return true
		}
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if rel == base || strings.HasPrefix(rel, base+"/") {
				return true
			}
			continue
		}
		if rel == p {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }
