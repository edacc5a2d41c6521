package migration

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string // version/kind in order
		wantErr string
	}{
		{"expand and contract interleave by version", fstest.MapFS{
			"m/expand/0002_b.sql":    file("CREATE TABLE b (x INTEGER);"),
			"m/expand/0001_a.sql":    file("CREATE TABLE a (x INTEGER);"),
			"m/contract/0003_c.sql":  file("ALTER TABLE a DROP COLUMN x;"),
			"m/expand/README.md":     file("not a step"),
			"m/expand/0004_d.sql/x":  file("a folder, not a step"),
			"m/contract/0005_e.sql":  file("DROP TABLE b;"),
			"m/expand/0006_f.sql":    file("ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT '';"),
			"m/expand/0007_g.sql":    file("-- DROP TABLE a; is only a comment\nCREATE INDEX a_x ON a (x);"),
			"m/expand/0008_h.sql":    file("/* RENAME in a comment */ CREATE TABLE h (x INTEGER);"),
			"m/expand/0009_trig.sql": file("CREATE TRIGGER t AFTER DELETE ON a BEGIN UPDATE b SET x = 1; END;"),
		}, []string{"0001_a/expand", "0002_b/expand", "0003_c/contract", "0005_e/contract", "0006_f/expand", "0007_g/expand", "0008_h/expand", "0009_trig/expand"}, ""},
		{"no contract folder", fstest.MapFS{"m/expand/0001_a.sql": file("CREATE TABLE a (x INTEGER);")}, []string{"0001_a/expand"}, ""},
		{"no expand step", fstest.MapFS{"m/contract/0001_a.sql": file("DROP TABLE a;"), "m/expand/notes.txt": file("x")}, nil, "no .sql file"},
		{"no folder", fstest.MapFS{"other/expand/0001_a.sql": file("SELECT 1;")}, nil, "list expand migrations"},
		{"version in both folders", fstest.MapFS{
			"m/expand/0001_a.sql": file("CREATE TABLE a (x INTEGER);"), "m/contract/0001_a.sql": file("DROP TABLE a;"),
		}, nil, "both in expand/ and contract/"},
		{"drop column in expand", fstest.MapFS{"m/expand/0001_a.sql": file("ALTER TABLE links DROP COLUMN visits;")}, nil, "move the step to contract/"},
		{"drop table in expand", fstest.MapFS{"m/expand/0001_a.sql": file("drop table links;")}, nil, "drops"},
		{"rename in expand", fstest.MapFS{"m/expand/0001_a.sql": file("ALTER TABLE links RENAME COLUMN url TO target;")}, nil, "renames"},
		{"set not null in expand", fstest.MapFS{"m/expand/0001_a.sql": file("ALTER TABLE links ALTER COLUMN url SET NOT NULL;")}, nil, "NOT NULL"},
		{"type change in expand", fstest.MapFS{"m/expand/0001_a.sql": file("ALTER TABLE links ALTER COLUMN visits TYPE integer;")}, nil, "column type"},
		{"delete rows in expand", fstest.MapFS{"m/expand/0001_a.sql": file("DELETE FROM links WHERE deleted_at IS NOT NULL;")}, nil, "deletes rows"},
		{"not null column without default", fstest.MapFS{"m/expand/0001_a.sql": file("ALTER TABLE links ADD COLUMN owner TEXT NOT NULL;")}, nil, "without a default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := Load(tt.fsys, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range steps {
				got = append(got, s.Version+"/"+string(s.Kind))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPendingAndVerify(t *testing.T) {
	steps := []Step{{Version: "0001", Kind: Expand}, {Version: "0002", Kind: Contract}, {Version: "0003", Kind: Expand}}
	versions := func(ss []Step) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Version)
		}
		return out
	}
	applied := map[string]bool{"0001": true}
	if got := versions(Pending(steps, applied, false)); !slices.Equal(got, []string{"0003"}) {
		t.Errorf("pending without contract: %v", got)
	}
	if got := versions(Pending(steps, applied, true)); !slices.Equal(got, []string{"0002", "0003"}) {
		t.Errorf("pending with contract: %v", got)
	}
	tests := []struct {
		name    string
		applied map[string]Kind
		wantErr string
	}{
		{"expand applied, contract not yet (a canary's view)", map[string]Kind{"0001": Expand, "0003": Expand}, ""},
		{"everything applied", map[string]Kind{"0001": Expand, "0002": Contract, "0003": Expand}, ""},
		{"a newer release's expand step is fine", map[string]Kind{"0001": Expand, "0003": Expand, "0004": Expand}, ""},
		{"expand step missing", map[string]Kind{"0001": Expand}, "expand steps 0003 not applied"},
		{"a newer release contracted", map[string]Kind{"0001": Expand, "0003": Expand, "0009": Contract}, "contracted by a newer release (steps 0009)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(steps, tt.applied)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Verify: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
