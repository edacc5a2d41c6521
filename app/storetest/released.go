package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/migration"
)

// Released is what a store's previous release needs from the schema: the
// migration steps it shipped (each with a hash of its file, since a
// released step must never change) and every statement it runs. A store
// keeps it in testdata/released.json and its compatibility test opens the
// store with these statements, after this build's expand steps, to prove
// that a canary of this build cannot break the release that still serves.
//
// Refresh it (the store's test flag -update-released) when a release is
// promoted: it then becomes the release the next canary must not break.
type Released struct {
	Note string `json:"note"`
	// Revision is the commit the previous release was built from, when
	// known: app/faulttest builds it and runs the real binary beside this
	// build's on one database.
	Revision   string          `json:"revision,omitempty"`
	Migrations []ReleasedStep  `json:"migrations"`
	Queries    json.RawMessage `json:"queries"`
}

// ReleasedStep is one step a release shipped.
type ReleasedStep struct {
	Version string         `json:"version"`
	Kind    migration.Kind `json:"kind"`
	SHA256  string         `json:"sha256"`
}

func hash(sql string) string {
	h := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(h[:])
}

// Snapshot describes this build, made from commit revision, as a release.
func Snapshot(steps []migration.Step, queries any, revision string) (Released, error) {
	q, err := json.MarshalIndent(queries, "  ", "  ")
	if err != nil {
		return Released{}, err
	}
	r := Released{
		Note:     "The previous release's schema contract: written by `go test -run Released -update-released` when a release is promoted; see README (Storage).",
		Revision: revision,
		Queries:  q,
	}
	for _, s := range steps {
		r.Migrations = append(r.Migrations, ReleasedStep{Version: s.Version, Kind: s.Kind, SHA256: hash(s.SQL)})
	}
	return r, nil
}

// ReadReleased reads a snapshot file.
func ReadReleased(path string) (Released, error) {
	var r Released
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read released snapshot: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parse %s: %w", path, err)
	}
	return r, nil
}

// WriteReleased writes a snapshot file.
func WriteReleased(path string, r Released) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PreviousSteps returns the steps the previous release shipped, taken from
// this build's steps, and fails when one of them was changed, removed or
// moved between expand and contract since: a released step has run on
// databases in use and cannot be edited, only followed by new steps.
func PreviousSteps(r Released, steps []migration.Step) ([]migration.Step, error) {
	byVersion := map[string]migration.Step{}
	for _, s := range steps {
		byVersion[s.Version] = s
	}
	var out []migration.Step
	var errs []error
	for _, rs := range r.Migrations {
		s, ok := byVersion[rs.Version]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("released migration %s is gone from this build: released steps stay (add a new step instead)", rs.Version))
		case s.Kind != rs.Kind:
			errs = append(errs, fmt.Errorf("released migration %s moved from %s to %s: released steps stay where they were", rs.Version, rs.Kind, s.Kind))
		case hash(s.SQL) != rs.SHA256:
			errs = append(errs, fmt.Errorf("released migration %s was edited: databases in use ran the released text; add a new step instead", rs.Version))
		default:
			out = append(out, s)
		}
	}
	return out, errors.Join(errs...)
}

// CheckCompatible runs, on one database, the previous release's store
// (prev) beside this build's (cur) as a canary runs beside stable: each
// creates links (two with the same target, as users do), reads the
// other's, deletes one of the other's, counts visits, and prev stays
// ready. It returns the first thing that did not work.
func CheckCompatible(ctx context.Context, prev, cur app.LinkStore) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	exp := now.Add(24 * time.Hour)
	steps := []struct {
		what string
		do   func() error
	}{
		{"previous release: ready on the expanded schema", func() error { return prev.Ready(ctx) }},
		{"previous release: create", func() error {
			return prev.CreateLink(ctx, &app.Link{Code: "compat-p1", URL: "https://example.com/same", CreatedAt: now})
		}},
		{"previous release: create a second link to the same URL", func() error {
			return prev.CreateLink(ctx, &app.Link{Code: "compat-p2", URL: "https://example.com/same", CreatedAt: now, ExpiresAt: &exp})
		}},
		{"new release: create", func() error {
			return cur.CreateLink(ctx, &app.Link{Code: "compat-c1", URL: "https://example.com/new", CreatedAt: now})
		}},
		{"previous release: read the new release's link", func() error { return findURL(ctx, prev, "compat-c1", "https://example.com/new") }},
		{"new release: read the previous release's link", func() error { return findURL(ctx, cur, "compat-p2", "https://example.com/same") }},
		{"previous release: a taken code is a conflict", func() error {
			err := prev.CreateLink(ctx, &app.Link{Code: "compat-c1", URL: "https://example.com/x", CreatedAt: now})
			if app.ErrorCode(err) != app.ECONFLICT {
				return fmt.Errorf("got %v, want a conflict", err)
			}
			return nil
		}},
		{"previous release: delete the new release's link", func() error { return prev.DeleteLink(ctx, "compat-c1", now) }},
		{"new release: sees the delete", func() error {
			l, err := cur.FindLink(ctx, "compat-c1")
			if err != nil {
				return err
			}
			if l.State(now) != app.LinkDeleted {
				return fmt.Errorf("state %v, want deleted", l.State(now))
			}
			return nil
		}},
		{"previous release: count visits", func() error {
			return prev.AddVisits(ctx, map[string]int64{"compat-p1": 2, "compat-c1": 1})
		}},
		{"new release: count visits", func() error { return cur.AddVisits(ctx, map[string]int64{"compat-p1": 3}) }},
		{"both: see the counts", func() error {
			for _, s := range []app.LinkStore{prev, cur} {
				l, err := s.FindLink(ctx, "compat-p1")
				if err != nil {
					return err
				}
				if l.Visits != 5 {
					return fmt.Errorf("%d visits, want 5", l.Visits)
				}
			}
			return nil
		}},
		{"new release: protect and disable links", func() error {
			if err := cur.CreateLink(ctx, &app.Link{Code: "compat-locked", URL: "https://example.com/secret", CreatedAt: now, PasswordHash: guardHash}); err != nil {
				return err
			}
			_, err := cur.UpdateLink(ctx, "compat-p2", app.LinkUpdate{DisabledAt: &now})
			return err
		}},
		{"previous release: does not redirect a protected or disabled link", func() error {
			// The previous release knows neither password nor switch: it
			// must see such links as not live rather than redirect them.
			for _, code := range []string{"compat-locked", "compat-p2"} {
				l, err := prev.FindLink(ctx, code)
				if err != nil {
					return err
				}
				if st := l.State(now); st == app.LinkLive {
					return fmt.Errorf("%s reads as live to the previous release: it would redirect it", code)
				}
			}
			return nil
		}},
		{"new release: re-enabled link is live for both", func() error {
			if _, err := cur.UpdateLink(ctx, "compat-p2", app.LinkUpdate{Enable: true}); err != nil {
				return err
			}
			for _, s := range []app.LinkStore{prev, cur} {
				l, err := s.FindLink(ctx, "compat-p2")
				if err != nil {
					return err
				}
				if st := l.State(now); st != app.LinkLive {
					return fmt.Errorf("re-enabled link reads as %v", st)
				}
			}
			return nil
		}},
		{"previous release: still ready", func() error { return prev.Ready(ctx) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// guardHash has the form of an Argon2id hash (stores keep it as given and
// never check it), for links the checks protect.
const guardHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$2yqCk1mKXmJg7d3Ow8v3Sx2cQ+0cz3Jd0n3WZbq7Rk4"

func findURL(ctx context.Context, s app.LinkStore, code, want string) error {
	l, err := s.FindLink(ctx, code)
	if err != nil {
		return err
	}
	if l.URL != want {
		return fmt.Errorf("%s points at %q, want %q", code, l.URL, want)
	}
	return nil
}
