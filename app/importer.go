package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// ImportRow is one row of an import file as read, before the link rules.
type ImportRow struct {
	Line int // where the row starts in the file (1-based), for the report
	// Code is the short code the link had; "" gives the row a code derived
	// from its URL, the same on every run (so a second run finds it).
	Code         string
	URL          string
	CreatedAt    *time.Time // nil: now
	ExpiresAt    *time.Time
	DeletedAt    *time.Time
	DisabledAt   *time.Time
	PasswordHash string
	Visits       int64
	// Err, when set, is why the row could not be read (a malformed line);
	// the other fields are then unset and the row is refused.
	Err error
}

// RowReader reads an import file row by row. Next returns io.EOF after the
// last row; any other error means the file cannot be read further.
type RowReader interface {
	Next() (ImportRow, error)
}

// Import results per row.
const (
	ImportCreated = "created"
	ImportSkipped = "skipped" // already present: the code holds the same URL
	ImportRefused = "refused"
)

// ImportResult is what Import did with one row.
type ImportResult struct {
	Line   int    `json:"line"`
	Code   string `json:"code,omitempty"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// ImportTotals count the rows of an import by result.
type ImportTotals struct {
	Created int64 `json:"created"`
	Skipped int64 `json:"skipped"`
	Refused int64 `json:"refused"`
}

// importBatch is how many rows one store write takes: large enough that a
// million rows do not cost a million transactions, small enough that the
// single SQLite writer is held for milliseconds, not seconds.
const importBatch = 500

// importClockSkew is how far in the future a created_at may be (clocks of
// the machine that exported and this one disagree a little).
const importClockSkew = time.Minute

// Import reads rows and stores them as links, applying the rules of Create
// to each (URL, code, expiry, password hash), and reports every row to
// onRow: created, skipped (the code already holds the same URL) or refused
// with the reason. Running it twice on the same file creates nothing the
// second time. Memory is bounded by one batch whatever the file's size. It
// returns an error only when the file cannot be read further, the store
// fails, or onRow fails; rows up to then are stored and reported, so a
// second run resumes where it stopped.
func (s *Service) Import(ctx context.Context, rows RowReader, onRow func(ImportResult) error) (ImportTotals, error) {
	// Rows wait in pending, in file order, until a batch is written, so the
	// report follows the file; refused and skipped rows count towards the
	// batch too, which keeps memory bounded whatever the rows are.
	type entry struct {
		res  ImportResult
		link *Link // nil: decided without the store
	}
	var (
		totals  ImportTotals
		pending = make([]entry, 0, importBatch)
		links   = make([]*Link, 0, importBatch)
		derived = map[string]bool{} // codes derived in this batch
	)
	flush := func() error {
		links = links[:0]
		for _, e := range pending {
			if e.link != nil {
				links = append(links, e.link)
			}
		}
		var out []ImportOutcome
		if len(links) > 0 {
			var err error
			if out, err = s.Store.ImportLinks(ctx, links); err != nil {
				return fmt.Errorf("import: store rows from line %d: %w", pending[0].res.Line, err)
			}
		}
		i := 0
		for _, e := range pending {
			r := e.res
			if e.link != nil {
				o := out[i]
				i++
				switch {
				case o.Created:
					r.Result = ImportCreated
				case o.ExistingURL == e.link.URL:
					r.Result, r.Reason = ImportSkipped, "already present"
				default:
					r.Result, r.Reason = ImportRefused, fmt.Sprintf("code %s is taken by another URL (%s)", e.link.Code, shorten(o.ExistingURL))
				}
			}
			switch r.Result {
			case ImportCreated:
				totals.Created++
			case ImportSkipped:
				totals.Skipped++
			default:
				totals.Refused++
			}
			if err := onRow(r); err != nil {
				return err
			}
		}
		pending = pending[:0]
		clear(derived)
		return nil
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	for {
		if err := ctx.Err(); err != nil {
			return totals, err
		}
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return totals, ferr
			}
			return totals, fmt.Errorf("import: %w", err)
		}
		link, skip, err := s.importLink(ctx, row, now, derived)
		switch {
		case err != nil && ErrorCode(err) != EINVALID:
			if ferr := flush(); ferr != nil {
				return totals, ferr
			}
			return totals, fmt.Errorf("import line %d: %w", row.Line, err)
		case err != nil:
			pending = append(pending, entry{res: ImportResult{Line: row.Line, Code: row.Code, Result: ImportRefused, Reason: ErrorMessage(err)}})
		case skip:
			pending = append(pending, entry{res: ImportResult{Line: row.Line, Code: link.Code, Result: ImportSkipped, Reason: "already present"}})
		default:
			pending = append(pending, entry{res: ImportResult{Line: row.Line, Code: link.Code}, link: link})
		}
		if len(pending) == importBatch {
			if err := flush(); err != nil {
				return totals, err
			}
		}
	}
	return totals, flush()
}

// importLink applies the link rules to a row. skip is true when the row
// has no code and the code derived from its URL already holds that URL.
// An EINVALID error refuses the row; any other error stops the import.
func (s *Service) importLink(ctx context.Context, row ImportRow, now time.Time, derived map[string]bool) (*Link, bool, error) {
	if row.Err != nil {
		return nil, false, Errorf(EINVALID, "%s", row.Err.Error())
	}
	target, err := ValidateURL(row.URL, s.SelfHosts)
	if err != nil {
		return nil, false, err
	}
	if err := s.checkHost(target); err != nil {
		return nil, false, err
	}
	l := &Link{Code: row.Code, URL: target, CreatedAt: now, Visits: row.Visits, PasswordHash: row.PasswordHash}
	if row.CreatedAt != nil {
		if row.CreatedAt.After(now.Add(importClockSkew)) {
			return nil, false, Errorf(EINVALID, "created_at %s is in the future", row.CreatedAt.Format(time.RFC3339))
		}
		l.CreatedAt = row.CreatedAt.UTC().Truncate(time.Millisecond)
	}
	// An expired or deleted link is imported as it is: its code stays
	// taken, as it was where it came from, so it never leads elsewhere.
	ms := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := t.UTC().Truncate(time.Millisecond)
		return &v
	}
	l.ExpiresAt, l.DeletedAt, l.DisabledAt = ms(row.ExpiresAt), ms(row.DeletedAt), ms(row.DisabledAt)
	if l.ExpiresAt != nil && !l.ExpiresAt.After(l.CreatedAt) {
		return nil, false, Errorf(EINVALID, "expires_at %s is not after created_at %s", l.ExpiresAt.Format(time.RFC3339), l.CreatedAt.Format(time.RFC3339))
	}
	if row.Visits < 0 {
		return nil, false, Errorf(EINVALID, "visits %d is negative", row.Visits)
	}
	if l.PasswordHash != "" {
		if err := CheckPasswordHash(l.PasswordHash); err != nil {
			return nil, false, err
		}
	}
	if l.Code != "" {
		if err := ValidateAlias(l.Code); err != nil {
			return nil, false, Errorf(EINVALID, "code: %s", ErrorMessage(err))
		}
		return l, false, nil
	}
	code, present, err := s.derivedCode(ctx, target, derived)
	if err != nil {
		return nil, false, err
	}
	l.Code = code
	derived[code] = true
	return l, present, nil
}

// derivedCode returns the code a row without one gets: the first of a
// fixed sequence of codes (keyed hashes of the URL) that is free or
// already holds this URL. The same URL gets the same code on every run,
// so importing a file twice finds its links instead of making new ones.
func (s *Service) derivedCode(ctx context.Context, url string, pending map[string]bool) (string, bool, error) {
	for attempt := range maxCodeRetries {
		code := hashCode(s.CodeKey, url, attempt)
		if pending[code] {
			// An earlier row of this batch: the store says skipped or
			// taken when the batch is written.
			return code, false, nil
		}
		l, err := s.Store.FindLink(ctx, code)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			return code, false, nil
		case err != nil:
			return "", false, fmt.Errorf("derive code: %w", err)
		case l.URL == url:
			return code, true, nil
		}
	}
	return "", false, Errorf(EINVALID, "no free code for this URL after %d tries; give the row a code", maxCodeRetries)
}

// hashCode is the attempt-th code derived from url.
func hashCode(key []byte, url string, attempt int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.Itoa(attempt) + "\x00" + url))
	sum := m.Sum(nil)
	out := make([]byte, CodeLength)
	for i := range out {
		out[i] = CodeAlphabet[int(sum[i])%len(CodeAlphabet)]
	}
	return string(out)
}
