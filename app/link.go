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
	Code      string
	URL       string
	CreatedAt time.Time
	ExpiresAt *time.Time // nil: never expires
	DeletedAt *time.Time // nil: live
	Visits    int64
}

// State tells whether a link redirects at time now (by its Target: links
// and cached targets follow one rule). Expiry counts in whole
// milliseconds, the precision stored links have.
func (l *Link) State(now time.Time) LinkState { return TargetOf(l).State(now) }

// LinkState is the redirect-relevant state of a link.
type LinkState int

// Link states.
const (
	LinkLive LinkState = iota
	LinkExpired
	LinkDeleted
)

// LinkStore persists links. Implementations return *Error with ENOTFOUND for
// unknown codes, ECONFLICT for a taken code and EUNAVAILABLE when the store
// cannot take writes (read-only file, full disk).
type LinkStore interface {
	CreateLink(ctx context.Context, l *Link) error
	FindLink(ctx context.Context, code string) (*Link, error)
	DeleteLink(ctx context.Context, code string, at time.Time) error
	// AddVisits adds counts to many links in one write.
	AddVisits(ctx context.Context, counts map[string]int64) error
	// Ready reports whether the store can serve reads and writes, and why not.
	Ready(ctx context.Context) error
}
