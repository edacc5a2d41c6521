package app

import (
	"errors"
	"fmt"
)

// Error codes, after wtf's: the HTTP layer maps each to one status code in
// one table, and only messages of non-internal errors reach users.
const (
	EINVALID      = "invalid"      // well-formed input that breaks a rule
	ENOTFOUND     = "not_found"    // no such link
	EGONE         = "gone"         // link expired or deleted
	ECONFLICT     = "conflict"     // alias already taken
	EUNAUTHORIZED = "unauthorized" // no credentials
	EFORBIDDEN    = "forbidden"    // wrong credentials
	EUNAVAILABLE  = "unavailable"  // store cannot take writes right now
	EPROTECTED    = "protected"    // the link needs its password to be followed
	ELIMITED      = "limited"      // too many attempts; try again later
	EINTERNAL     = "internal"     // anything else; message never shown
)

// Error is a domain error with a code and a message meant for the user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds a domain error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first domain error in err's chain, or
// EINTERNAL for any other error (and "" for nil).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic text so that SQL errors and stack details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error; the request was not completed, try again later"
}
