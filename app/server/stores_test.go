package server_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testStore is what the HTTP tests need of a store.
type testStore interface {
	app.LinkStore
	app.WriteProber
	Secret(ctx context.Context, name string, size int) ([]byte, error)
}

// openTestStore opens the store the HTTP tests run on: SQLite, or
// PostgreSQL while TestAPIOnPostgres runs them again (tests here are not
// parallel, so one variable can say which).
var openTestStore = openSQLite

func openSQLite(t *testing.T) testStore {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "links.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) testStore {
	t.Helper()
	_, url := pgtest.NewDatabase(t)
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestAPIOnPostgres runs the HTTP tests that use a real store again on
// PostgreSQL: every API answer (status, body, headers, pages) must be the
// same as on SQLite, which the rest of this package's tests check.
func TestAPIOnPostgres(t *testing.T) {
	pgtest.Server(t) // skip (or fail under CI) here, not in each subtest
	openTestStore = openPostgres
	t.Cleanup(func() { openTestStore = openSQLite })
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"CreateLinkAPI", TestCreateLinkAPI},
		{"CreateResponseShape", TestCreateResponseShape},
		{"RedirectAndMetadata", TestRedirectAndMetadata},
		{"RedirectErrorsAreHTMLPages", TestRedirectErrorsAreHTMLPages},
		{"DeleteNeedsAdminKey", TestDeleteNeedsAdminKey},
		{"HealthAndDrain", TestHealthAndDrain},
		{"MetricsOnlyOnAdmin", TestMetricsOnlyOnAdmin},
		{"QRCode", TestQRCode},
		{"WebFormWithoutJavaScript", TestWebFormWithoutJavaScript},
		{"CrossOriginFormPostRefused", TestCrossOriginFormPostRefused},
		{"FaultInjection", TestFaultInjection},
		{"RedirectLocationIsASCII", TestRedirectLocationIsASCII},
		{"NoInternalsInAnswers", TestNoInternalsInAnswers},
		{"AdminKeys", TestAdminKeys},
		{"ForwardedForOverHTTP", TestForwardedForOverHTTP},
		{"RateLimitAnswers429WithRetryAfter", TestRateLimitAnswers429WithRetryAfter},
		{"SecurityHeadersOnEveryHTMLAnswer", TestSecurityHeadersOnEveryHTMLAnswer},
		{"PublicRoutesMatchRouter", TestPublicRoutesMatchRouter},
		{"ReadyzReasonOnlyOnAdmin", TestReadyzReasonOnlyOnAdmin},
		{"ReadyzStaysReadyWhenStoreRefusesWrites", TestReadyzStaysReadyWhenStoreRefusesWrites},
		{"PublicReadyzCostsOneStoreCheckPerInterval", TestPublicReadyzCostsOneStoreCheckPerInterval},
		{"ListLinksAPI", TestListLinksAPI},
		{"UpdateLinkAPI", TestUpdateLinkAPI},
		{"LinkVisitsAPI", TestLinkVisitsAPI},
		{"ProtectedLinkAnswers", TestProtectedLinkAnswers},
		{"PasswordGuessLimits", TestPasswordGuessLimits},
		{"ExportImportAPI", TestExportImportAPI},
		{"ImportAndExportAnswers", TestImportAndExportAnswers},
		{"PreviewPage", TestPreviewPage},
	} {
		t.Run(tc.name, tc.fn)
	}
}
