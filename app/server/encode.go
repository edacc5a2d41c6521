package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/obsshort/shortener/app"
)

// MaxBodyBytes caps request bodies; larger ones answer 413.
const MaxBodyBytes = 16 << 10

// errorStatus is the one table from domain error codes to HTTP status codes.
var errorStatus = map[string]int{
	app.EINVALID:      http.StatusUnprocessableEntity,
	app.ENOTFOUND:     http.StatusNotFound,
	app.EGONE:         http.StatusGone,
	app.ECONFLICT:     http.StatusConflict,
	app.EUNAUTHORIZED: http.StatusUnauthorized,
	app.EFORBIDDEN:    http.StatusForbidden,
	app.EUNAVAILABLE:  http.StatusServiceUnavailable,
	app.EINTERNAL:     http.StatusInternalServerError,
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int {
	var re *requestError
	if errors.As(err, &re) {
		return re.status
	}
	if s, ok := errorStatus[app.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// messageOf is the text a user sees for err.
func messageOf(err error) string {
	var re *requestError
	if errors.As(err, &re) {
		return re.msg
	}
	return app.ErrorMessage(err)
}

// requestError is a problem with the request itself (syntax, size, media
// type), answered with a fixed status before the domain sees it.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

type errorBody struct {
	Error string `json:"error"`
}

// encode writes v as JSON with status.
func encode[T any](w http.ResponseWriter, status int, v T) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err as {"error": "..."} with its status; internal
// errors are logged with their detail and shown generically.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status := statusOf(err)
	if status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", "path_route", routePattern(r), "status", status, "err", err)
	}
	encode(w, status, errorBody{Error: messageOf(err)})
}

// Validator is implemented by request bodies that check themselves.
type Validator interface {
	Valid() error
}

// decode reads one JSON object into T: 413 when too large, 400 when not
// JSON (whatever the Content-Type claims, so `curl -d` works), 422 when well-formed but unacceptable
// (unknown fields, wrong types, failed Valid).
func decode[T Validator](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err, allowedFields(v))
	}
	// A body of `null` decodes without error and leaves a pointer T nil,
	// which would panic in Valid.
	if rv := reflect.ValueOf(v); !rv.IsValid() || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
		return v, app.Errorf(app.EINVALID, "request body must be a JSON object, not null")
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return v, decodeError(err, "")
		}
		return v, &requestError{http.StatusBadRequest, "request body must hold exactly one JSON object; remove what follows it"}
	}
	if err := v.Valid(); err != nil {
		return v, err
	}
	return v, nil
}

// allowedFields is what a body type says its fields are, for the message
// about an unknown one.
func allowedFields(v any) string {
	if f, ok := v.(interface{ allowedFields() string }); ok {
		return f.allowedFields()
	}
	return "those of the API reference"
}

func decodeError(err error, allowed string) error {
	var (
		mbe  *http.MaxBytesError
		se   *json.SyntaxError
		ute  *json.UnmarshalTypeError
		text = err.Error()
	)
	switch {
	case errors.As(err, &mbe):
		return &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	case errors.As(err, &se):
		return &requestError{http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	case errors.Is(err, io.EOF):
		return &requestError{http.StatusBadRequest, `request body is empty; send a JSON object such as {"url": "https://example.com"}`}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{http.StatusBadRequest, "malformed JSON: the body ends in the middle of a value"}
	case errors.As(err, &ute):
		if ute.Field != "" {
			return app.Errorf(app.EINVALID, "field %q must be a %s, not a JSON %s", ute.Field, ute.Type.String(), ute.Value)
		}
		return app.Errorf(app.EINVALID, "request body must be a JSON object, not a JSON %s", ute.Value)
	case strings.HasPrefix(text, "json: unknown field "):
		return app.Errorf(app.EINVALID, "unknown field %s; allowed fields are %s", strings.TrimPrefix(text, "json: unknown field "), allowed)
	default:
		return &requestError{http.StatusBadRequest, "malformed JSON: " + text}
	}
}
