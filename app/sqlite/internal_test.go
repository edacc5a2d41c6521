package sqlite

import (
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/obsshort/shortener/app"
)

// TestEmbeddedSteps: this build embeds its steps where Steps finds them,
// and the first three (made before expand/contract) are expand steps.
func TestEmbeddedSteps(t *testing.T) {
	steps, err := Steps()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps[:3] {
		got = append(got, s.Version+"/"+string(s.Kind))
	}
	if want := []string{"0001_links/expand", "0002_settings/expand", "0003_link_changes/expand"}; !slices.Equal(got, want) {
		t.Fatalf("first steps %v, want %v", got, want)
	}
}

type fakeResult struct {
	n   int64
	err error
}

func (r fakeResult) LastInsertId() (int64, error) { return 0, errors.New("not used") }
func (r fakeResult) RowsAffected() (int64, error) { return r.n, r.err }

var _ sql.Result = fakeResult{}

// TestDeletedOne: a driver that cannot count the changed rows gives an
// internal error, not "no such link" (which would answer 404 for a link
// that may well have been deleted).
func TestDeletedOne(t *testing.T) {
	driverErr := errors.New("rows affected not supported")
	tests := []struct {
		name     string
		res      sql.Result
		wantCode string
	}{
		{"one row", fakeResult{n: 1}, ""},
		{"no live row", fakeResult{n: 0}, app.ENOTFOUND},
		{"count unknown", fakeResult{err: driverErr}, app.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deletedOne(tt.res, "abc")
			if got := app.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code %q (%v), want %q", got, err, tt.wantCode)
			}
			if tt.wantCode == app.EINTERNAL && !errors.Is(err, driverErr) {
				t.Fatalf("error %v does not wrap the driver's", err)
			}
		})
	}
}
