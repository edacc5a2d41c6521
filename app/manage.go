package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits of the link list.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
	// ListScanWindow is the most stored links one list request reads when
	// it filters by state or text: a filter that matches little costs a
	// bounded read and answers with a cursor to continue from (the page
	// may hold fewer links than asked, even none).
	ListScanWindow = 10_000
	maxSearchLen   = 200
)

// List states besides LinkState's names.
const listProtected = "protected"

// ListQuery is what a link owner asks the list for.
type ListQuery struct {
	CreatedFrom, CreatedTo *time.Time // created_at in [from, to)
	// State keeps links in one state: live, expired, deleted, disabled,
	// or protected (any state, with a password). "" keeps all.
	State string
	// Search keeps links whose URL or code contains it (ASCII letters
	// compared without case).
	Search string
	Limit  int    // 0: DefaultListLimit
	Cursor string // from a previous page's NextCursor
}

// LinkPage is one page of the list.
type LinkPage struct {
	Links      []*Link
	NextCursor string // "" when the list is complete
}

// matcher returns the filter of q, or nil when q keeps every link.
func (q ListQuery) matcher(now time.Time) func(*Link) bool {
	if q.State == "" && q.Search == "" {
		return nil
	}
	needle := lowerASCII(q.Search)
	return func(l *Link) bool {
		switch {
		case q.State == listProtected:
			if !l.Protected() {
				return false
			}
		case q.State != "" && l.State(now).String() != q.State:
			return false
		}
		return needle == "" || strings.Contains(lowerASCII(l.URL), needle) || strings.Contains(lowerASCII(l.Code), needle)
	}
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func (q *ListQuery) validate() error {
	switch q.State {
	case "", "live", "expired", "deleted", "disabled", listProtected:
	default:
		return Errorf(EINVALID, "state %q is not one of live, expired, deleted, disabled, protected", q.State)
	}
	if len(q.Search) > maxSearchLen {
		return Errorf(EINVALID, "q is %d bytes long; the limit is %d", len(q.Search), maxSearchLen)
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultListLimit
	case q.Limit < 1 || q.Limit > MaxListLimit:
		return Errorf(EINVALID, "limit %d is outside 1..%d", q.Limit, MaxListLimit)
	}
	if q.CreatedFrom != nil && q.CreatedTo != nil && !q.CreatedFrom.Before(*q.CreatedTo) {
		return Errorf(EINVALID, "created_from must be before created_to")
	}
	return nil
}

// EncodeCursor makes the opaque cursor of a position.
func EncodeCursor(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + "." + c.Code))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (*Cursor, error) {
	bad := Errorf(EINVALID, "cursor %q is not one this server gave out; start again without it", shorten(s))
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ms, code, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || !ValidCodeSyntax(code) {
		return nil, bad
	}
	return &Cursor{CreatedAt: time.UnixMilli(n).UTC(), Code: code}, nil
}

// List returns one page of links, newest first. The work of one call is
// bounded: at most ListScanWindow stored links are read.
func (s *Service) List(ctx context.Context, q ListQuery) (LinkPage, error) {
	if err := q.validate(); err != nil {
		return LinkPage{}, err
	}
	var after *Cursor
	if q.Cursor != "" {
		var err error
		if after, err = DecodeCursor(q.Cursor); err != nil {
			return LinkPage{}, err
		}
	}
	match := q.matcher(s.now())
	window := q.Limit + 1
	if match != nil {
		window = ListScanWindow
	}
	var (
		page    LinkPage
		scanned int
		last    *Link
		more    bool // a link beyond the page matched
	)
	err := s.Store.ScanLinks(ctx, ScanQuery{After: after, CreatedFrom: q.CreatedFrom, CreatedTo: q.CreatedTo, Limit: window}, func(l *Link) bool {
		scanned++
		if match != nil && !match(l) {
			last = l
			return true
		}
		if len(page.Links) == q.Limit {
			more = true
			return false
		}
		page.Links = append(page.Links, l)
		last = l
		return true
	})
	if err != nil {
		return LinkPage{}, fmt.Errorf("list links: %w", err)
	}
	switch {
	case more:
		l := page.Links[len(page.Links)-1]
		page.NextCursor = EncodeCursor(Cursor{CreatedAt: l.CreatedAt, Code: l.Code})
	case scanned == window && last != nil:
		// The window ended before the store did: resume after the last
		// link read, matched or not.
		page.NextCursor = EncodeCursor(Cursor{CreatedAt: last.CreatedAt, Code: last.Code})
	}
	if s.Visits != nil {
		for _, l := range page.Links {
			l.Visits += s.Visits.Pending(l.Code)
		}
	}
	return page, nil
}

// UpdateRequest is a link owner's change; nil fields stay as they are.
type UpdateRequest struct {
	URL         *string
	ExpiresAt   *time.Time
	ClearExpiry bool
	Disabled    *bool
	// Password sets a new password; ClearPassword removes the protection.
	Password      *string
	ClearPassword bool
}

// Update validates and applies a change to a link, with the rules of
// Create, and drops the link from the redirect caches (this process's at
// once, others' through the store's change counter or feed).
func (s *Service) Update(ctx context.Context, code string, req UpdateRequest) (*Link, error) {
	if !ValidCodeSyntax(code) {
		return nil, Errorf(ENOTFOUND, "no link with code %q", code)
	}
	var u LinkUpdate
	changes := 0
	if req.URL != nil {
		target, err := ValidateURL(*req.URL, s.SelfHosts)
		if err != nil {
			return nil, err
		}
		if err := s.checkHost(target); err != nil {
			return nil, err
		}
		u.URL = &target
		changes++
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	switch {
	case req.ClearExpiry:
		u.ClearExpiry = true
		changes++
	case req.ExpiresAt != nil:
		exp, err := futureExpiry(*req.ExpiresAt, now)
		if err != nil {
			return nil, err
		}
		u.ExpiresAt = &exp
		changes++
	}
	if req.Disabled != nil {
		if *req.Disabled {
			u.DisabledAt = &now
		} else {
			u.Enable = true
		}
		changes++
	}
	switch {
	case req.ClearPassword:
		u.ClearPassword = true
		changes++
	case req.Password != nil:
		if err := ValidatePassword(*req.Password); err != nil {
			return nil, err
		}
		hash, err := s.passwords().Hash(ctx, *req.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = &hash
		changes++
	}
	if changes == 0 {
		return nil, Errorf(EINVALID, "nothing to change: give url, expires_at, disabled or password")
	}
	l, err := s.Store.UpdateLink(ctx, code, u)
	switch ErrorCode(err) {
	case "":
	case ENOTFOUND:
		return nil, Errorf(ENOTFOUND, "no link with code %q", code)
	case EGONE:
		return nil, Errorf(EGONE, "link %s was deleted; a deleted link cannot be changed", code)
	default:
		return nil, fmt.Errorf("update link: %w", err)
	}
	s.forget(code)
	if s.Visits != nil {
		l.Visits += s.Visits.Pending(code)
	}
	return l, nil
}

// Apply changes l as u says (what every store does inside its write).
func (u LinkUpdate) Apply(l *Link) {
	if u.URL != nil {
		l.URL = *u.URL
	}
	switch {
	case u.ClearExpiry:
		l.ExpiresAt = nil
	case u.ExpiresAt != nil:
		e := *u.ExpiresAt
		l.ExpiresAt = &e
	}
	switch {
	case u.Enable:
		l.DisabledAt = nil
	case u.DisabledAt != nil && l.DisabledAt == nil:
		d := *u.DisabledAt
		l.DisabledAt = &d
	}
	switch {
	case u.ClearPassword:
		l.PasswordHash = ""
	case u.PasswordHash != nil:
		l.PasswordHash = *u.PasswordHash
	}
}

// exportPage is how many links one store read of an export takes: each
// read is short, so an export of millions of links never holds a read
// transaction (or memory) for long.
const exportPage = 1000

// Export calls fn with every stored link, newest first, whatever its state,
// with its visit count (stored plus not yet flushed).
func (s *Service) Export(ctx context.Context, fn func(*Link) error) error {
	var after *Cursor
	for {
		var (
			n    int
			last *Link
			ferr error
		)
		err := s.Store.ScanLinks(ctx, ScanQuery{After: after, Limit: exportPage}, func(l *Link) bool {
			n++
			last = l
			if s.Visits != nil {
				l.Visits += s.Visits.Pending(l.Code)
			}
			ferr = fn(l)
			return ferr == nil
		})
		if ferr != nil {
			return ferr
		}
		if err != nil {
			return fmt.Errorf("export links: %w", err)
		}
		if n < exportPage {
			return nil
		}
		after = &Cursor{CreatedAt: last.CreatedAt, Code: last.Code}
	}
}
