package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/app"
)

// passwordData fills password.html. It never holds the link's target.
type passwordData struct {
	Code  string
	Error string
}

// servePasswordPage answers GET /{code} for a password-protected link: 200
// with a small form (no Location, no target), posted to the same address.
// It works without JavaScript.
func servePasswordPage(w http.ResponseWriter, r *http.Request, d Deps, code string, status int, msg string) {
	setSecurityHeaders(w.Header())
	// CSP's form-action also governs where the form's answer redirects:
	// with 'self' alone, a browser refuses to follow the right password's
	// redirect to the link's target (any http or https host).
	w.Header().Set("Content-Security-Policy", passwordPagePolicy)
	w.Header().Set("Cache-Control", "no-store")
	d.render(w, r, status, "password.html", passwordData{Code: code, Error: msg})
}

// handleUnlock answers POST /{code}, the password form: with the right
// password, the configured redirect (a 307 or 308 becomes 303, which
// makes the browser GET the target: those two would have it post the form,
// password included, to the target); a wrong one, 403 and the form again.
// Guesses are limited per client and per link before any hashing (429
// with Retry-After). The password never appears in a URL, a log line or a
// metric label: it travels only in this form's body.
func handleUnlock(d Deps) http.Handler {
	status := d.RedirectStatus
	if status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect {
		status = http.StatusSeeOther
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			st := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				st = http.StatusRequestEntityTooLarge
			}
			servePasswordPage(w, r, d, code, st, "the form could not be read; reload the page and try again")
			return
		}
		password := r.PostForm.Get("password")
		if password == "" {
			servePasswordPage(w, r, d, code, http.StatusBadRequest, "enter the link's password")
			return
		}
		if ok, wait, perLink := d.Guesses.take(r, code, d.now()); !ok {
			secs := retrySeconds(wait)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			msg := "too many password attempts from your network; try again in " + strconv.Itoa(secs) + " s"
			if perLink {
				msg = "too many password attempts on this link; try again in " + strconv.Itoa(secs) + " s"
			}
			servePasswordPage(w, r, d, code, http.StatusTooManyRequests, msg)
			return
		}
		link, err := d.Service.Unlock(r.Context(), code, password)
		switch app.ErrorCode(err) {
		case "":
		case app.EFORBIDDEN:
			servePasswordPage(w, r, d, code, http.StatusForbidden, messageOf(err))
			return
		default:
			renderProblem(w, r, d, err)
			return
		}
		h := w.Header()
		h.Set("Location", asciiLocation(link.URL))
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(status)
	})
}
