package app

// Busy exposes how many password hashes run now, for tests.
func Busy(h *PasswordHasher) int { return h.busy() }
