// Package app holds the shortener's domain: links, the rules for input, the
// store interface and the service that applies the rules. It imports no
// outside dependency; sqlite, HTTP and telemetry live in their own packages.
package app

import (
	"context"
	"time"
)

// Link is a short code pointing at a target URL.
type Link struct {
	Code       string
	URL        string
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: never expires
	DeletedAt  *time.Time // nil: live
	DisabledAt *time.Time // nil: enabled; set by its owner, undone by re-enabling
	// PasswordHash is an Argon2id hash in PHC form (see HashPassword); ""
	// for a link anyone may follow.
	PasswordHash string
	Visits       int64
}

// State tells whether a link redirects at time now (by its Target: links
// and cached targets follow one rule). Expiry counts in whole
// milliseconds, the precision stored links have.
func (l *Link) State(now time.Time) LinkState { return TargetOf(l).State(now) }

// Protected reports whether following the link needs its password.
func (l *Link) Protected() bool { return l.PasswordHash != "" }

// LinkState is the redirect-relevant state of a link.
type LinkState int

// Link states.
const (
	LinkLive LinkState = iota
	LinkExpired
	LinkDeleted
	LinkDisabled
)

// String is the state's name in the API and the list filter.
func (s LinkState) String() string {
	switch s {
	case LinkExpired:
		return "expired"
	case LinkDeleted:
		return "deleted"
	case LinkDisabled:
		return "disabled"
	default:
		return "live"
	}
}

// LinkStore persists links. Implementations return *Error with ENOTFOUND for
// unknown codes, ECONFLICT for a taken code and EUNAVAILABLE when the store
// cannot take writes (read-only file, full disk).
type LinkStore interface {
	CreateLink(ctx context.Context, l *Link) error
	FindLink(ctx context.Context, code string) (*Link, error)
	DeleteLink(ctx context.Context, code string, at time.Time) error
	// AddVisits adds counts to many links in one write, and to each
	// link's count of the store's current day (UTC), kept for DailyVisits.
	AddVisits(ctx context.Context, counts map[string]int64) error
	// Ready reports whether the store can serve reads and writes, and why not.
	Ready(ctx context.Context) error

	// ScanLinks calls fn with the links created in q's range, newest first
	// (created_at, then code, descending), from just after q.After, at most
	// q.Limit of them, until fn returns false. The order is total, so a
	// cursor taken from the last link seen resumes exactly after it.
	ScanLinks(ctx context.Context, q ScanQuery, fn func(*Link) bool) error
	// UpdateLink applies u to the link with code unless it is deleted
	// (ENOTFOUND for an unknown code, EGONE for a deleted link) and
	// returns the link as stored after the change.
	UpdateLink(ctx context.Context, code string, u LinkUpdate) (*Link, error)
	// ImportLinks stores links as given (times, state, password hash and
	// visit count included) in one write, and says for each what
	// happened: created, or the code was taken (with the URL it holds).
	ImportLinks(ctx context.Context, links []*Link) ([]ImportOutcome, error)
	// DailyVisits returns the link's visits per UTC day in [from, to),
	// days without visits left out, oldest first.
	DailyVisits(ctx context.Context, code string, from, to time.Time) ([]DayCount, error)
	// PruneVisits removes per-day counts of days before the given day, at
	// most limit rows, and returns how many it removed.
	PruneVisits(ctx context.Context, before time.Time, limit int) (int64, error)
}

// ScanQuery says which links ScanLinks reads.
type ScanQuery struct {
	// After is the position (created_at, code) of the last link already
	// seen; nil starts at the newest.
	After *Cursor
	// CreatedFrom and CreatedTo bound created_at to [from, to); nil is
	// unbounded.
	CreatedFrom, CreatedTo *time.Time
	// Limit is the most links read (required, > 0): the bound on one call's work.
	Limit int
}

// Cursor is a position in the newest-first order of links.
type Cursor struct {
	CreatedAt time.Time
	Code      string
}

// LinkUpdate is a change to a link; nil fields stay as they are.
type LinkUpdate struct {
	URL *string
	// ExpiresAt: set to a time, or ClearExpiry to remove the expiry.
	ExpiresAt   *time.Time
	ClearExpiry bool
	// DisabledAt: set to disable (keeps an earlier time if already
	// disabled); Enable re-enables.
	DisabledAt *time.Time
	Enable     bool
	// PasswordHash: a new hash; ClearPassword removes the protection.
	PasswordHash  *string
	ClearPassword bool
}

// ImportOutcome is what ImportLinks did with one link.
type ImportOutcome struct {
	Created bool
	// ExistingURL is the URL the taken code already points at (when not
	// Created).
	ExistingURL string
}

// DayCount is the visits of one UTC day.
type DayCount struct {
	Day    time.Time // 00:00 UTC
	Visits int64
}

// Day returns the UTC day t falls on, at 00:00 UTC.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
