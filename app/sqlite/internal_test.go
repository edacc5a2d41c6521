package sqlite

import (
	"database/sql"
	"errors"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/obsshort/shortener/app"
)

func TestListMigrations(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string
		wantErr bool
	}{
		{"sorted, only .sql files", fstest.MapFS{
			"migrations/0002_b.sql": file, "migrations/0001_a.sql": file,
			"migrations/README.md": file, "migrations/0003_dir.sql/x": file,
		}, []string{"migrations/0001_a.sql", "migrations/0002_b.sql"}, false},
		{"no migrations folder", fstest.MapFS{"other/0001_a.sql": file}, nil, true},
		{"folder without .sql files", fstest.MapFS{"migrations/notes.txt": file}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := listMigrations(tt.fsys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The embedded set this build applies.
	names, err := listMigrations(migrationFS)
	if err != nil || len(names) < 3 {
		t.Fatalf("embedded migrations: %v %v", names, err)
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
