package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Passwords of protected links are stored as Argon2id hashes (RFC 9106) in
// the PHC string form $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
// (unpadded base64), so the parameters travel with each hash and can be
// raised later without breaking the hashes already stored.
//
// The parameters are the first of OWASP's recommended Argon2id settings
// (19 MiB of memory, 2 passes, 1 lane): one hash took 180 ms of one core
// on the shared 2-core test machine (TestPasswordHashAndVerify logs it),
// and 19 MiB for that time. A server
// verifies at most PasswordWorkers hashes at once, so guesses cannot take
// more than that much memory whatever their number (and guess rate limits
// come first).
var DefaultPasswordParams = PasswordParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// PasswordParams are Argon2id's cost parameters.
type PasswordParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// Bounds on stored parameters: a hash read from the database or an import
// file is refused beyond them, so a crafted hash cannot make one check
// allocate gigabytes or run for minutes.
const (
	maxPasswordMemoryKiB = 256 * 1024
	maxPasswordTime      = 10
	maxPasswordThreads   = 16
	passwordSaltLen      = 16
	passwordKeyLen       = 32

	// MinPasswordLen and MaxPasswordLen bound a link password (bytes of
	// UTF-8): long enough to resist guessing at the rate limits, short
	// enough that hashing it costs the same as any other.
	MinPasswordLen = 4
	MaxPasswordLen = 256
)

// PasswordWorkers is how many password hashes a process computes at once;
// more callers wait their turn (bounded by their request's context).
const PasswordWorkers = 2

// ValidatePassword checks a password a link owner chose.
func ValidatePassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return Errorf(EINVALID, "password is not valid UTF-8")
	case len(pw) < MinPasswordLen:
		return Errorf(EINVALID, "password must be at least %d characters long", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return Errorf(EINVALID, "password must be at most %d bytes long", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the PHC string of pw with params and a fresh salt.
func HashPassword(pw string, p PasswordParams) (string, error) {
	salt := make([]byte, passwordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, passwordKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordHash is a parsed PHC string.
type passwordHash struct {
	params    PasswordParams
	salt, key []byte
}

// CheckPasswordHash reports whether s is an Argon2id PHC string this
// service can verify within its bounds (for imported hashes).
func CheckPasswordHash(s string) error {
	_, err := parsePasswordHash(s)
	return err
}

func parsePasswordHash(s string) (passwordHash, error) {
	var h passwordHash
	bad := func(why string) (passwordHash, error) {
		return h, Errorf(EINVALID, "password_hash is not an Argon2id hash this service accepts (%s); expected $argon2id$v=19$m=...,t=...,p=...$salt$key", why)
	}
	if len(s) > 512 {
		return bad("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("wrong number of $-separated fields")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm " + strconv.Quote(parts[1]))
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + strconv.Quote(parts[2]))
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return bad("parameter " + strconv.Quote(kv))
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return bad("parameter " + strconv.Quote(k))
		}
	}
	switch {
	case m < 8 || m > maxPasswordMemoryKiB:
		return bad(fmt.Sprintf("memory m=%d KiB outside 8..%d", m, maxPasswordMemoryKiB))
	case t < 1 || t > maxPasswordTime:
		return bad(fmt.Sprintf("passes t=%d outside 1..%d", t, maxPasswordTime))
	case p < 1 || p > maxPasswordThreads:
		return bad(fmt.Sprintf("lanes p=%d outside 1..%d", p, maxPasswordThreads))
	case m < 8*p:
		return bad("memory below 8 KiB per lane")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("key")
	}
	h.params = PasswordParams{MemoryKiB: uint32(m), Time: uint32(t), Threads: uint8(p)}
	h.salt, h.key = salt, key
	return h, nil
}

// PasswordHasher computes Argon2id hashes, at most PasswordWorkers at once.
type PasswordHasher struct {
	Params PasswordParams
	slots  chan struct{}
}

// NewPasswordHasher returns a hasher with params (zero: the defaults).
func NewPasswordHasher(p PasswordParams) *PasswordHasher {
	if p == (PasswordParams{}) {
		p = DefaultPasswordParams
	}
	return &PasswordHasher{Params: p, slots: make(chan struct{}, PasswordWorkers)}
}

func (h *PasswordHasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return Errorf(EUNAVAILABLE, "the server is busy checking passwords; try again in a moment")
	}
}

func (h *PasswordHasher) release() { <-h.slots }

// busy is how many hashes run now.
func (h *PasswordHasher) busy() int { return len(h.slots) }

// Hash hashes pw.
func (h *PasswordHasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(pw, h.Params)
}

// Verify reports whether pw matches the stored hash, comparing in constant
// time. A hash outside the accepted bounds is an error, never a match.
func (h *PasswordHasher) Verify(ctx context.Context, stored, pw string) (bool, error) {
	ph, err := parsePasswordHash(stored)
	if err != nil {
		// Not the user's fault: an internal error, never shown.
		return false, fmt.Errorf("stored password hash unusable: %v", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	key := argon2.IDKey([]byte(pw), ph.salt, ph.params.Time, ph.params.MemoryKiB, ph.params.Threads, uint32(len(ph.key)))
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}
