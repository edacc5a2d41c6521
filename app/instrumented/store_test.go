package instrumented_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/instrumented"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/telemetry"
)

type opRecord struct {
	op     string
	failed error
}

type fakeRecorder struct{ ops []opRecord }

func (r *fakeRecorder) StoreOp(op string, _ time.Duration, err error) {
	r.ops = append(r.ops, opRecord{op, err})
}

type spanRecord struct {
	op     string
	ended  bool
	failed error
	ctx    context.Context
}

type fakeTracer struct{ spans []*spanRecord }

type spanKey struct{}

func (t *fakeTracer) StartStoreSpan(ctx context.Context, op string) (context.Context, func(error)) {
	s := &spanRecord{op: op}
	t.spans = append(t.spans, s)
	s.ctx = context.WithValue(ctx, spanKey{}, s)
	return s.ctx, func(err error) { s.ended, s.failed = true, err }
}

// failingStore answers every call with err, and remembers the context each
// call ran in (it must be the span's).
func failingStore(err error, seen *[]context.Context) *mock.LinkStore {
	rec := func(ctx context.Context) error { *seen = append(*seen, ctx); return err }
	return &mock.LinkStore{
		CreateLinkFn: func(ctx context.Context, _ *app.Link) error { return rec(ctx) },
		FindLinkFn: func(ctx context.Context, code string) (*app.Link, error) {
			if err := rec(ctx); err != nil {
				return nil, err
			}
			return &app.Link{Code: code}, nil
		},
		DeleteLinkFn: func(ctx context.Context, _ string, _ time.Time) error { return rec(ctx) },
		AddVisitsFn:  func(ctx context.Context, _ map[string]int64) error { return rec(ctx) },
		ReadyFn:      rec,
		ScanLinksFn:  func(ctx context.Context, _ app.ScanQuery, _ func(*app.Link) bool) error { return rec(ctx) },
		UpdateLinkFn: func(ctx context.Context, code string, _ app.LinkUpdate) (*app.Link, error) {
			return nil, rec(ctx)
		},
		ImportLinksFn: func(ctx context.Context, _ []*app.Link) ([]app.ImportOutcome, error) { return nil, rec(ctx) },
		DailyVisitsFn: func(ctx context.Context, _ string, _, _ time.Time) ([]app.DayCount, error) { return nil, rec(ctx) },
		PruneVisitsFn: func(ctx context.Context, _ time.Time, _ int) (int64, error) { return 0, rec(ctx) },
	}
}

// ops are the store operations in the order callAll makes them.
var ops = []string{instrumented.OpCreate, instrumented.OpGet, instrumented.OpDelete, instrumented.OpAddVisits, instrumented.OpReady,
	instrumented.OpScan, instrumented.OpUpdate, instrumented.OpImport, instrumented.OpDailyVisits, instrumented.OpPruneVisits}

// callAll makes one call of each store operation and returns what each one
// returned, in the order of ops.
func callAll(s app.LinkStore) []error {
	ctx := context.Background()
	createErr := s.CreateLink(ctx, &app.Link{Code: "abc"})
	_, findErr := s.FindLink(ctx, "abc")
	deleteErr := s.DeleteLink(ctx, "abc", time.Time{})
	visitsErr := s.AddVisits(ctx, map[string]int64{"abc": 1})
	readyErr := s.Ready(ctx)
	scanErr := s.ScanLinks(ctx, app.ScanQuery{Limit: 1}, func(*app.Link) bool { return true })
	_, updateErr := s.UpdateLink(ctx, "abc", app.LinkUpdate{Enable: true})
	_, importErr := s.ImportLinks(ctx, []*app.Link{{Code: "abc"}})
	_, dailyErr := s.DailyVisits(ctx, "abc", time.Time{}, time.Time{})
	_, pruneErr := s.PruneVisits(ctx, time.Time{}, 1)
	return []error{createErr, findErr, deleteErr, visitsErr, readyErr, scanErr, updateErr, importErr, dailyErr, pruneErr}
}

// TestStoreErrorsCounted: which outcomes of a store call count as a store
// error (metric and failed span) and which are answers. Every call is
// measured, gets its own span around the store call, and returns the
// store's error unchanged.
func TestStoreErrorsCounted(t *testing.T) {
	driverErr := errors.New(`SQL logic error: near "x"`)
	tests := []struct {
		name   string
		err    error
		failed bool
	}{
		{"success", nil, false},
		{"not found", app.Errorf(app.ENOTFOUND, "no link"), false},
		{"conflict", app.Errorf(app.ECONFLICT, "code taken"), false},
		{"invalid", app.Errorf(app.EINVALID, "bad input"), false},
		{"gone", app.Errorf(app.EGONE, "deleted"), false},
		{"unauthorized", app.Errorf(app.EUNAUTHORIZED, "no key"), false},
		{"forbidden", app.Errorf(app.EFORBIDDEN, "wrong key"), false},
		{"not found, wrapped", fmt.Errorf("find: %w", app.Errorf(app.ENOTFOUND, "no link")), false},
		{"unavailable (disk full)", fmt.Errorf("insert: %w", app.Errorf(app.EUNAVAILABLE, "the disk is full")), true},
		{"internal domain error", app.Errorf(app.EINTERNAL, "broken"), true},
		{"driver error", driverErr, true},
		{"timeout", fmt.Errorf("find: %w", context.DeadlineExceeded), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := instrumented.Failed(tt.err); got != tt.failed {
				t.Fatalf("Failed(%v) = %v, want %v", tt.err, got, tt.failed)
			}
			var seen []context.Context
			rec, tr := &fakeRecorder{}, &fakeTracer{}
			s := &instrumented.Store{Next: failingStore(tt.err, &seen), Metrics: rec, Tracing: tr}
			got := callAll(s)
			for i, err := range got {
				if err != tt.err {
					t.Errorf("%s returned %v, want the store's %v unchanged", ops[i], err, tt.err)
				}
			}
			if len(rec.ops) != len(ops) || len(tr.spans) != len(ops) || len(seen) != len(ops) {
				t.Fatalf("%d metrics, %d spans, %d store calls for %d operations", len(rec.ops), len(tr.spans), len(seen), len(ops))
			}
			for i, op := range ops {
				wantFailed := error(nil)
				if tt.failed {
					wantFailed = tt.err
				}
				if rec.ops[i] != (opRecord{op, wantFailed}) {
					t.Errorf("metric %d: %+v, want op %s failed=%v", i, rec.ops[i], op, wantFailed)
				}
				sp := tr.spans[i]
				if sp.op != op || !sp.ended || sp.failed != wantFailed {
					t.Errorf("span %d: op %s ended %v failed %v; want op %s ended, failed %v", i, sp.op, sp.ended, sp.failed, op, wantFailed)
				}
				if seen[i] != sp.ctx {
					t.Errorf("%s: the store call did not run in the span's context", op)
				}
			}
		})
	}
}

// storeSeries returns the operation label values of the store duration
// histogram and the error count per operation.
func storeSeries(t *testing.T, m interface {
	Gather() ([]*dto.MetricFamily, error)
}) (ops []string, errs map[string]float64) {
	t.Helper()
	mfs, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	errs = map[string]float64{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			var op string
			for _, l := range metric.GetLabel() {
				if l.GetName() == telemetry.LabelOp {
					op = l.GetValue()
				}
			}
			switch mf.GetName() {
			case telemetry.MetricStoreOperationDuration:
				ops = append(ops, op)
			case telemetry.MetricStoreErrors:
				errs[op] = metric.GetCounter().GetValue()
			}
		}
	}
	slices.Sort(ops)
	return ops, errs
}

// TestStoreWithRealMetrics: with the real metrics, a failed call counts
// one store error for its operation and an answer counts none, and the
// decorator's operation names are exactly the series the metrics create
// at zero (a new name would appear only on first use, after the alert that
// needs it).
func TestStoreWithRealMetrics(t *testing.T) {
	reg := telemetry.NewRegistry()
	metrics := telemetry.NewMetrics(reg, telemetry.Results{LinkCreated: app.CreateResults(), Redirect: app.RedirectResults()})
	var tracing *telemetry.Tracing // off: spans cost nothing, calls still pass
	preset, _ := storeSeries(t, reg)
	want := slices.Clone(ops)
	slices.Sort(want)
	if !slices.Equal(preset, want) {
		t.Fatalf("series created at zero %v, decorator operations %v", preset, want)
	}

	var seen []context.Context
	fail := &instrumented.Store{Next: failingStore(app.Errorf(app.EUNAVAILABLE, "disk full"), &seen), Metrics: metrics, Tracing: tracing}
	answer := &instrumented.Store{Next: failingStore(app.Errorf(app.ENOTFOUND, "no link"), &seen), Metrics: metrics, Tracing: tracing}
	callAll(fail)
	callAll(answer)
	after, errs := storeSeries(t, reg)
	if !slices.Equal(after, want) {
		t.Fatalf("series after the calls %v, want %v", after, want)
	}
	for _, op := range ops {
		if errs[op] != 1 {
			t.Errorf("%s: %v store errors, want 1 (the unavailable call, not the not-found one)", op, errs[op])
		}
	}
}
