package app

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Cache is the bounded in-memory cache in front of the store on the redirect
// path: code to Target (RedirectCache). A change made by another process
// sharing the database reaches it through a GuardedCache.
type Cache interface {
	Get(code string) (Target, bool)
	Add(code string, t Target) bool
	Remove(code string) bool
}

// Observer receives business events (implemented by telemetry.Metrics).
type Observer interface {
	LinkCreated(result string)
	Redirect(result string)
	CacheLookup(hit bool)
}

// Results reported to the Observer.
const (
	CreateResultCreated  = "created"
	CreateResultConflict = "conflict"
	CreateResultInvalid  = "invalid"
	CreateResultError    = "error"

	RedirectFound     = "found"
	RedirectNotFound  = "not_found"
	RedirectExpired   = "expired"
	RedirectDeleted   = "deleted"
	RedirectDisabled  = "disabled"
	RedirectProtected = "protected" // the password page was shown
)

// CreateResults returns every result Create reports, and RedirectResults
// every result Resolve reports: the one list of each, which the command
// hands to telemetry.NewMetrics so that their series exist at zero. Each
// call returns a new slice.
func CreateResults() []string {
	return []string{CreateResultCreated, CreateResultConflict, CreateResultInvalid, CreateResultError}
}

// RedirectResults: see CreateResults.
func RedirectResults() []string {
	return []string{RedirectFound, RedirectNotFound, RedirectExpired, RedirectDeleted, RedirectDisabled, RedirectProtected}
}

// CreateRequest is what a user asks for.
type CreateRequest struct {
	URL       string
	Alias     string
	ExpiresAt *time.Time
	// Password, if set, protects the link: following it asks for it.
	Password string
}

// Service applies the link rules on top of a store.
type Service struct {
	Store     LinkStore
	Cache     Cache         // optional
	Visits    *VisitCounter // optional
	Observer  Observer      // optional
	SelfHosts []string      // host[:port] of this service, refused as targets
	Hosts     HostPolicy    // optional: refuses targets on blocked hosts
	Now       func() time.Time
	// Passwords hashes and checks link passwords (nil: a default hasher,
	// made on first use).
	Passwords *PasswordHasher
	// CodeKey keys the codes an import derives for rows without one (a
	// secret of the database, so they cannot be guessed from the URL).
	CodeKey []byte

	hasherOnce sync.Once
}

func (s *Service) passwords() *PasswordHasher {
	s.hasherOnce.Do(func() {
		if s.Passwords == nil {
			s.Passwords = NewPasswordHasher(PasswordParams{})
		}
	})
	return s.Passwords
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) observeCreate(result string) {
	if s.Observer != nil {
		s.Observer.LinkCreated(result)
	}
}

// Create validates the request and stores a new link.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Link, error) {
	link, err := s.create(ctx, req)
	switch ErrorCode(err) {
	case "":
		s.observeCreate(CreateResultCreated)
	case ECONFLICT:
		s.observeCreate(CreateResultConflict)
	case EINVALID:
		s.observeCreate(CreateResultInvalid)
	default:
		s.observeCreate(CreateResultError)
	}
	return link, err
}

func (s *Service) create(ctx context.Context, req CreateRequest) (*Link, error) {
	target, err := ValidateURL(req.URL, s.SelfHosts)
	if err != nil {
		return nil, err
	}
	if err := s.checkHost(target); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if req.ExpiresAt != nil {
		exp, err := futureExpiry(*req.ExpiresAt, now)
		if err != nil {
			return nil, err
		}
		req.ExpiresAt = &exp
	}
	link := &Link{URL: target, CreatedAt: now, ExpiresAt: req.ExpiresAt}
	if req.Alias != "" {
		if err := ValidateAlias(req.Alias); err != nil {
			return nil, err
		}
	}
	if req.Password != "" {
		if err := ValidatePassword(req.Password); err != nil {
			return nil, err
		}
		hash, err := s.passwords().Hash(ctx, req.Password)
		if err != nil {
			return nil, err
		}
		link.PasswordHash = hash
	}
	if req.Alias != "" {
		link.Code = req.Alias
		if err := s.Store.CreateLink(ctx, link); err != nil {
			if ErrorCode(err) == ECONFLICT {
				return nil, Errorf(ECONFLICT, "alias %q is already taken; choose another or leave alias empty for a random code", req.Alias)
			}
			return nil, fmt.Errorf("create link: %w", err)
		}
		return link, nil
	}
	for range maxCodeRetries {
		code, err := NewCode()
		if err != nil {
			return nil, err
		}
		link.Code = code
		err = s.Store.CreateLink(ctx, link)
		if err == nil {
			return link, nil
		}
		if ErrorCode(err) != ECONFLICT {
			return nil, fmt.Errorf("create link: %w", err)
		}
	}
	return nil, fmt.Errorf("create link: no free code after %d tries", maxCodeRetries)
}

// futureExpiry returns exp at the stores' precision, or EINVALID when it
// is not after now.
func futureExpiry(exp, now time.Time) (time.Time, error) {
	e := exp.UTC().Truncate(time.Millisecond)
	if !e.After(now) {
		return e, Errorf(EINVALID, "expires_at %s is in the past; give a future RFC 3339 time or leave it out", exp.Format(time.RFC3339))
	}
	return e, nil
}

// Resolve returns the target of a live link for a redirect and counts the
// visit in memory. Unknown codes give ENOTFOUND; expired, deleted or
// disabled links EGONE; a link with a password EPROTECTED (and no target:
// it is only for Unlock). A cached link costs no allocation: the Target's
// URL points into the cache.
func (s *Service) Resolve(ctx context.Context, code string) (Target, error) {
	t, err := s.followable(ctx, code)
	if err != nil {
		return Target{}, err
	}
	if t.Protected() {
		s.observeRedirect(RedirectProtected)
		return Target{}, Errorf(EPROTECTED, "link %s is protected by a password", code)
	}
	s.observeRedirect(RedirectFound)
	if s.Visits != nil {
		s.Visits.Add(code)
	}
	return t, nil
}

// followable looks code up (in the cache first) and refuses links that do
// not redirect now, reporting why to the observer.
func (s *Service) followable(ctx context.Context, code string) (Target, error) {
	t, err := s.lookup(ctx, code)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			s.observeRedirect(RedirectNotFound)
		}
		return Target{}, err
	}
	if err := s.refuse(code, t.State(s.now())); err != nil {
		return Target{}, err
	}
	return t, nil
}

// refuse returns EGONE for a state that does not redirect (and reports
// it to the observer), nil for a live one.
func (s *Service) refuse(code string, st LinkState) error {
	switch st {
	case LinkDeleted:
		s.observeRedirect(RedirectDeleted)
		return Errorf(EGONE, "link %s was deleted", code)
	case LinkDisabled:
		s.observeRedirect(RedirectDisabled)
		return Errorf(EGONE, "link %s has been disabled by its owner", code)
	case LinkExpired:
		s.observeRedirect(RedirectExpired)
		return Errorf(EGONE, "link %s has expired", code)
	}
	return nil
}

// Unlock returns a link's target for a redirect when password is its
// password (any password for a link without one) and counts the visit; a
// wrong password gives EFORBIDDEN. Callers limit the rate of guesses
// before calling. The cache knows only that a password exists: the hash
// is read from the store, with the link's state as stored now.
func (s *Service) Unlock(ctx context.Context, code, password string) (Target, error) {
	t, err := s.followable(ctx, code)
	if err != nil {
		return Target{}, err
	}
	if t.Protected() {
		l, err := s.Store.FindLink(ctx, code)
		if err != nil {
			if ErrorCode(err) == ENOTFOUND {
				s.observeRedirect(RedirectNotFound)
				return Target{}, Errorf(ENOTFOUND, "no link with code %q", code)
			}
			return Target{}, fmt.Errorf("unlock %s: find link: %w", code, err)
		}
		if err := s.refuse(code, l.State(s.now())); err != nil {
			return Target{}, err
		}
		if l.Protected() {
			ok, err := s.passwords().Verify(ctx, l.PasswordHash, password)
			if err != nil {
				return Target{}, fmt.Errorf("unlock %s: %w", code, err)
			}
			if !ok {
				return Target{}, Errorf(EFORBIDDEN, "wrong password; check it and try again")
			}
		}
		t = TargetOf(l)
	}
	s.observeRedirect(RedirectFound)
	if s.Visits != nil {
		s.Visits.Add(code)
	}
	return t, nil
}

func (s *Service) observeRedirect(result string) {
	if s.Observer != nil {
		s.Observer.Redirect(result)
	}
}

func (s *Service) lookup(ctx context.Context, code string) (Target, error) {
	if !ValidCodeSyntax(code) {
		return Target{}, Errorf(ENOTFOUND, "no link with code %q", code)
	}
	if s.Cache != nil {
		if t, ok := s.Cache.Get(code); ok {
			if s.Observer != nil {
				s.Observer.CacheLookup(true)
			}
			return t, nil
		}
		if s.Observer != nil {
			s.Observer.CacheLookup(false)
		}
	}
	// A guarded cache may be purged while the store read runs; the link
	// read before a purge must not be cached after it.
	guarded, _ := s.Cache.(*GuardedCache)
	var version uint64
	if guarded != nil {
		version = guarded.Version()
	}
	l, err := s.Store.FindLink(ctx, code)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return Target{}, Errorf(ENOTFOUND, "no link with code %q", code)
		}
		return Target{}, fmt.Errorf("find link: %w", err)
	}
	t := TargetOf(l)
	switch {
	case guarded != nil:
		guarded.AddIfVersion(version, code, t)
	case s.Cache != nil:
		s.Cache.Add(code, t)
	}
	return t, nil
}

// Get returns a link's metadata with its visit count (stored plus not yet
// flushed), whatever its state.
func (s *Service) Get(ctx context.Context, code string) (*Link, error) {
	if !ValidCodeSyntax(code) {
		return nil, Errorf(ENOTFOUND, "no link with code %q", code)
	}
	l, err := s.Store.FindLink(ctx, code)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "no link with code %q", code)
		}
		return nil, fmt.Errorf("get link: %w", err)
	}
	if s.Visits != nil {
		l.Visits += s.Visits.Pending(code)
	}
	return l, nil
}

// Delete marks a link deleted; it answers 410 from then on.
func (s *Service) Delete(ctx context.Context, code string) error {
	if !ValidCodeSyntax(code) {
		return Errorf(ENOTFOUND, "no link with code %q", code)
	}
	if err := s.Store.DeleteLink(ctx, code, s.now().UTC()); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return Errorf(ENOTFOUND, "no link with code %q", code)
		}
		return fmt.Errorf("delete link: %w", err)
	}
	s.forget(code)
	return nil
}

// forget drops code from this process's cache after a change (other
// processes hear of it through the store's change counter or feed). A
// guarded cache also keeps lookups that read the store before the change
// from caching what they read.
func (s *Service) forget(code string) {
	switch c := s.Cache.(type) {
	case nil:
	case *GuardedCache:
		c.Invalidate(code)
	default:
		c.Remove(code)
	}
}
