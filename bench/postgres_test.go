package bench

import "testing"

// TestPostgresFigures: the PostgreSQL rows are ratios to their references
// of the same run (pgbench; the SQLite runs), with the targets the issue
// sets: creations at least 0.7 of pgbench, warm redirects within 10% of
// SQLite.
func TestPostgresFigures(t *testing.T) {
	rounds := []RoundResult{
		{"baseline": {RPS: 1000}, "shortener-full-10k": {RPS: 500}, "shortener-pg-10k": {RPS: 480}, "shortener-sqlite-miss": {RPS: 300}, "shortener-pg-miss": {RPS: 150}},
		{"baseline": {RPS: 1000}, "shortener-full-10k": {RPS: 500}, "shortener-pg-10k": {RPS: 520}, "shortener-sqlite-miss": {RPS: 300}, "shortener-pg-miss": {RPS: 180}},
		{"baseline": {RPS: 1000}, "shortener-full-10k": {RPS: 400}, "shortener-pg-10k": {RPS: 200}, "shortener-sqlite-miss": {RPS: 200}, "shortener-pg-miss": {RPS: 100}},
	}
	rep := &Report{Rounds: rounds, PGCreates: createResult{Clients: 32, PerSec: 1300, Created: 13000, Verified: 13000, Resolved: 13000},
		PGCreateRounds: []pgCreateRound{{1300, 2000}, {1000, 1000}, {600, 1200}}} // ratios 0.65, 1, 0.5
	figs := figures(DefaultConfig(), rep, map[string]int64{"baseline": 1, "shortener-full-10k": 1, "shortener-full-1M": 1})
	byKey := map[string]Figure{}
	for _, f := range figs {
		byKey[f.Key] = f
	}
	tests := []struct {
		key   string
		value float64
		met   *bool
	}{
		{"pg_creates_vs_pgbench", 0.65, boolp(false)},
		{"pg_durable", 13000, boolp(true)},
		{"pg_vs_sqlite_warm", 0.96, boolp(true)}, // per-round 0.96, 1.04, 0.5: the median
		{"pg_vs_sqlite_miss", 0.5, nil},          // 0.5, 0.6, 0.5
	}
	for _, tt := range tests {
		f, ok := byKey[tt.key]
		if !ok {
			t.Fatalf("no figure %s", tt.key)
		}
		if d := f.Value - tt.value; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", tt.key, f.Value, tt.value)
		}
		if (f.Met == nil) != (tt.met == nil) || (f.Met != nil && *f.Met != *tt.met) {
			t.Errorf("%s met = %v, want %v", tt.key, f.Met, tt.met)
		}
	}
}
