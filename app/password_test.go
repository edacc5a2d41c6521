package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
)

// cheap are Argon2id parameters small enough for tests; the production
// defaults are tested once below.
var cheap = app.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1}

func TestPasswordHashAndVerify(t *testing.T) {
	ctx := context.Background()
	h := app.NewPasswordHasher(app.PasswordParams{})
	if h.Params != app.DefaultPasswordParams {
		t.Fatalf("zero params gave %+v, want the defaults", h.Params)
	}
	start := time.Now()
	hash, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one hash with the default parameters took %v", time.Since(start))
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the default parameters", hash)
	}
	again, _ := h.Hash(ctx, "correct horse")
	if again == hash {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false, "Correct horse": false} {
		if ok, err := h.Verify(ctx, hash, pw); err != nil || ok != want {
			t.Errorf("verify %q: %v %v, want %v", pw, ok, err, want)
		}
	}
	// A hash made with other parameters still verifies (they travel with it).
	old, _ := app.HashPassword("pw-1234", cheap)
	if ok, err := h.Verify(ctx, old, "pw-1234"); !ok || err != nil {
		t.Fatalf("a hash with other parameters: %v %v", ok, err)
	}
}

func TestPasswordHashBounds(t *testing.T) {
	good, _ := app.HashPassword("pw-1234", cheap)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, tt := range []struct{ name, hash, want string }{
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuWZ3Xb0C2r0YyFq3c3lX8m5Vqf3J5dW", "wrong number"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, `algorithm "argon2i"`},
		{"old version", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key, "version"},
		{"4 GiB of memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "memory m=4194304"},
		{"a thousand passes", "$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key, "passes t=1000"},
		{"no lanes", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, "lanes p=0"},
		{"unknown parameter", "$argon2id$v=19$m=64,t=1,x=1$" + salt + "$" + key, `parameter "x"`},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$YWJj", "key"},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + key, "salt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := app.CheckPasswordHash(tt.hash)
			if app.ErrorCode(err) != app.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckPasswordHash: %v, want EINVALID saying %q", err, tt.want)
			}
			// A stored hash like this is never a match, and the error is
			// internal (not the user's doing).
			ok, err := app.NewPasswordHasher(cheap).Verify(context.Background(), tt.hash, "pw-1234")
			if ok || app.ErrorCode(err) != app.EINTERNAL {
				t.Fatalf("Verify: %v %v, want no match and an internal error", ok, err)
			}
		})
	}
	if err := app.CheckPasswordHash(good); err != nil {
		t.Fatalf("a hash of our own refused: %v", err)
	}
}

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{"abc": false, "abcd": true, strings.Repeat("x", app.MaxPasswordLen): true,
		strings.Repeat("x", app.MaxPasswordLen+1): false, "\xff\xfeabcd": false} {
		if err := app.ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(%d bytes): %v, want ok=%v", len(pw), err, ok)
		}
	}
}

// Hashing waits for a free worker: with every worker busy, a caller whose
// context ends gets "unavailable", not a hash.
func TestPasswordWorkersBounded(t *testing.T) {
	h := app.NewPasswordHasher(app.PasswordParams{MemoryKiB: 16 * 1024, Time: 8, Threads: 1})
	ctx := context.Background()
	done := make(chan struct{})
	for range app.PasswordWorkers {
		go func() { _, _ = h.Hash(ctx, "busy-busy"); done <- struct{}{} }()
	}
	for app.Busy(h) < app.PasswordWorkers {
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err := h.Hash(short, "waiting")
	for range app.PasswordWorkers {
		<-done
	}
	if app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("hash with every worker busy and a 1 ms deadline: %v, want EUNAVAILABLE", err)
	}
}
