package storetest

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/migration"
)

// Compat says how a store's compatibility test opens its stores; RunCompat
// runs the same checks for every store.
type Compat struct {
	// Snapshot is the path of the previous release's snapshot
	// (testdata/released.json); with Update it is rewritten from this
	// build first.
	Snapshot string
	Update   bool
	// Steps and Queries are this build's.
	Steps   []migration.Step
	Queries any
	// Fresh returns a new empty database (a file path, a URL).
	Fresh func(t *testing.T) string
	// OpenPrevious opens the previous release's store on db: its steps,
	// its statements (the snapshot's JSON).
	OpenPrevious func(t *testing.T, db string, steps []migration.Step, queries json.RawMessage) app.LinkStore
	// OpenCurrent opens this build's store on db, which applies its expand
	// steps, plus extra steps (the self-test's breaking example).
	OpenCurrent func(t *testing.T, db string, extra []migration.Step) app.LinkStore
	// Contract applies this build's contract steps on db and returns this
	// build's store on the result.
	Contract func(t *testing.T, db string) app.LinkStore
}

// breaking is an expand step that passes migration.CheckExpand (it only
// adds) and still breaks the previous release: its users may shorten the
// same URL twice. RunCompat proves the compatibility check catches it.
var breaking = migration.Step{Version: "9999_breaking_example", Kind: migration.Expand, SQL: `CREATE UNIQUE INDEX links_one_per_url ON links (url);`}

// RunCompat proves that the previous release keeps working, reads and
// writes, on the schema after this build's expand steps (what a canary of
// this build does to the database stable uses), and that this build works
// after its own contract steps.
func RunCompat(t *testing.T, c Compat) {
	if c.Update {
		snap, err := Snapshot(c.Steps, c.Queries, headRevision(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteReleased(c.Snapshot, snap); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from this build", c.Snapshot)
	}
	released, err := ReadReleased(c.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	prevSteps, err := PreviousSteps(released, c.Steps)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := migration.CheckExpand(breaking); err != nil {
		t.Fatalf("the self-test's breaking step must pass the expand lint, or it proves nothing: %v", err)
	}
	ctx := context.Background()
	previousOnExpanded := func(t *testing.T, extra []migration.Step) (prev, cur app.LinkStore) {
		db := c.Fresh(t)
		prev = c.OpenPrevious(t, db, prevSteps, released.Queries) // the release in production made the schema
		cur = c.OpenCurrent(t, db, extra)                         // a canary of this build starts
		return prev, cur
	}

	t.Run("previous release passes the contract on the expanded schema", func(t *testing.T) {
		RunCore(t, func(t *testing.T) app.LinkStore {
			prev, _ := previousOnExpanded(t, nil)
			return prev
		})
	})
	t.Run("previous and this release side by side", func(t *testing.T) {
		prev, cur := previousOnExpanded(t, nil)
		if err := CheckCompatible(ctx, prev, cur); err != nil {
			t.Fatalf("this build's expand steps break the previous release: %v", err)
		}
	})
	t.Run("a breaking expand step is caught", func(t *testing.T) {
		prev, cur := previousOnExpanded(t, []migration.Step{breaking})
		if err := CheckCompatible(ctx, prev, cur); err == nil {
			t.Fatal("an expand step that makes URLs unique went unnoticed: the check cannot catch a breaking migration")
		}
	})
	t.Run("this release after its contract steps", func(t *testing.T) {
		Run(t, func(t *testing.T) app.LinkStore {
			db := c.Fresh(t)
			c.OpenCurrent(t, db, nil)
			return c.Contract(t, db)
		})
	})
}

// headRevision is the commit checked out, for a snapshot of this build.
func headRevision(t *testing.T) string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD (the snapshot records the release's commit): %v", err)
	}
	return strings.TrimSpace(string(out))
}
