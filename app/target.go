package app

import "time"

// Target is what a redirect needs of a link: where it points and what
// decides its state. It is a small value (the redirect cache keeps it in
// a few dozen bytes and hands it out without allocating), so whatever a
// redirect must check goes in Flags, set by TargetOf. A new per-link rule
// of the redirect (say, a protected link) is a new flag: set it in
// TargetOf, and the cache carries it at no cost. A protected link's
// Target says only that a password exists, never the hash: Unlock reads
// the hash from the store when someone offers a password.
type Target struct {
	URL string
	// ExpiresAt is the expiry in Unix milliseconds when Flags has
	// TargetExpires (stored times have millisecond precision).
	ExpiresAt int64
	Flags     TargetFlags
}

// TargetFlags are the redirect-relevant facts of a link, one bit each.
type TargetFlags uint8

// Target flags.
const (
	TargetDeleted   TargetFlags = 1 << iota // deleted: 410
	TargetExpires                           // ExpiresAt holds an expiry
	TargetDisabled                          // disabled by its owner: 410
	TargetProtected                         // a password guards it: no redirect without it
)

// TargetOf returns the redirect target of l.
func TargetOf(l *Link) Target {
	t := Target{URL: l.URL}
	if l.DeletedAt != nil {
		t.Flags |= TargetDeleted
	}
	if l.DisabledAt != nil {
		t.Flags |= TargetDisabled
	}
	if l.Protected() {
		t.Flags |= TargetProtected
	}
	if l.ExpiresAt != nil {
		t.Flags |= TargetExpires
		t.ExpiresAt = l.ExpiresAt.UnixMilli()
	}
	return t
}

// State tells whether the target redirects at time now: the one rule for
// links and cached targets alike (Link.State asks it). A deleted link
// stays deleted; a disabled one answers like a removed one until
// re-enabled. A protected link is live: whether it needs its password is
// Protected's question.
func (t Target) State(now time.Time) LinkState {
	switch {
	case t.Flags&TargetDeleted != 0:
		return LinkDeleted
	case t.Flags&TargetDisabled != 0:
		return LinkDisabled
	case t.Flags&TargetExpires != 0 && now.UnixMilli() >= t.ExpiresAt:
		return LinkExpired
	default:
		return LinkLive
	}
}

// Protected reports whether following the target needs its password.
func (t Target) Protected() bool { return t.Flags&TargetProtected != 0 }
