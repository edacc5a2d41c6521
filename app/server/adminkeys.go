package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/obsshort/shortener/app"
)

// AdminKeys holds the SHA-256 hashes of the admin API keys; the keys
// themselves are never kept in memory after loading.
type AdminKeys struct {
	hashes [][sha256.Size]byte
}

// ParseAdminKeys reads keys, one per line or comma-separated; blank lines and
// lines starting with # are ignored. A line "sha256:<hex>" is an already
// hashed key, so a key file need not hold the secret itself.
func ParseAdminKeys(r io.Reader) (*AdminKeys, error) {
	k := &AdminKeys{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		for _, key := range strings.Split(text, ",") {
			key = strings.TrimSpace(key)
			if key == "" {
				continue
			}
			if hexed, ok := strings.CutPrefix(key, "sha256:"); ok {
				b, err := hex.DecodeString(hexed)
				if err != nil || len(b) != sha256.Size {
					return nil, fmt.Errorf("admin keys line %d: sha256: must be followed by 64 hex digits", line)
				}
				var h [sha256.Size]byte
				copy(h[:], b)
				k.hashes = append(k.hashes, h)
				continue
			}
			if len(key) < 16 {
				return nil, fmt.Errorf("admin keys line %d: a key must be at least 16 characters long", line)
			}
			k.hashes = append(k.hashes, sha256.Sum256([]byte(key)))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read admin keys: %w", err)
	}
	return k, nil
}

// Len is the number of keys configured.
func (k *AdminKeys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.hashes)
}

// Match reports, in constant time per key, whether key is one of the keys.
func (k *AdminKeys) Match(key string) bool {
	if k == nil {
		return false
	}
	h := sha256.Sum256([]byte(key))
	match := 0
	for i := range k.hashes {
		match |= subtle.ConstantTimeCompare(h[:], k.hashes[i][:])
	}
	return match == 1
}

// isAdmin reports whether r carries a valid admin key.
func (d Deps) isAdmin(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && d.AdminKeys.Match(strings.TrimSpace(token))
}

// requireAdmin lets a request through only with a valid Bearer key: 401
// without credentials, 403 with a wrong key or when no keys are configured.
func requireAdmin(keys *AdminKeys, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			token, ok := strings.CutPrefix(auth, "Bearer ")
			switch {
			case auth == "" || !ok || strings.TrimSpace(token) == "":
				w.Header().Set("WWW-Authenticate", `Bearer realm="shortener admin"`)
				writeError(w, r, logger, app.Errorf(app.EUNAUTHORIZED, "this action needs an admin API key: send Authorization: Bearer <key>"))
			case keys.Len() == 0:
				writeError(w, r, logger, app.Errorf(app.EFORBIDDEN, "no admin API keys are configured on this server; set SHORTENER_ADMIN_KEYS or --admin-keys-file"))
			case !keys.Match(strings.TrimSpace(token)):
				writeError(w, r, logger, app.Errorf(app.EFORBIDDEN, "the admin API key is not valid"))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}
