package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/app"
)

// createLinkRequest is the body of POST /api/v1/links.
type createLinkRequest struct {
	URL       string  `json:"url"`
	Alias     string  `json:"alias,omitempty"`
	ExpiresAt *string `json:"expires_at,omitempty"`
	Password  string  `json:"password,omitempty"`

	expires *time.Time
}

func (*createLinkRequest) allowedFields() string { return "url, alias, expires_at and password" }

// Valid parses expires_at; the link rules themselves live in app.
func (c *createLinkRequest) Valid() error {
	if strings.TrimSpace(c.URL) == "" {
		return app.Errorf(app.EINVALID, `field "url" is required: give an absolute http:// or https:// URL`)
	}
	if c.ExpiresAt != nil && *c.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, *c.ExpiresAt)
		if err != nil {
			return app.Errorf(app.EINVALID, `field "expires_at" must be an RFC 3339 time such as "2030-01-02T15:04:05Z"`)
		}
		c.expires = &t
	}
	return nil
}

// linkResponse is a link as the API shows it. URL is left out of the
// public metadata of a password-protected link.
type linkResponse struct {
	Code       string     `json:"code"`
	ShortURL   string     `json:"short_url"`
	URL        string     `json:"url,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	DeletedAt  *time.Time `json:"deleted_at,omitempty"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	Protected  bool       `json:"protected,omitempty"`
	Visits     *int64     `json:"visits,omitempty"`
	State      string     `json:"state,omitempty"`
}

func (d Deps) shortURL(code string) string {
	return strings.TrimSuffix(d.BaseURL, "/") + "/" + code
}

func (d Deps) toResponse(l *app.Link) linkResponse {
	return linkResponse{
		Code: l.Code, ShortURL: d.shortURL(l.Code), URL: l.URL,
		CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, Protected: l.Protected(),
	}
}

// fullResponse is everything about a link, for its owner (admin key).
func (d Deps) fullResponse(l *app.Link) linkResponse {
	resp := d.toResponse(l)
	resp.DeletedAt, resp.DisabledAt = l.DeletedAt, l.DisabledAt
	visits := l.Visits
	resp.Visits = &visits
	resp.State = l.State(d.now()).String()
	return resp
}

func handleCreateLink(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[*createLinkRequest](w, r)
		if err != nil {
			if d.Metrics != nil && statusOf(err) < 500 {
				d.Metrics.LinkCreated(app.CreateResultInvalid)
			}
			writeError(w, r, d.Logger, err)
			return
		}
		link, err := d.Service.Create(r.Context(), app.CreateRequest{URL: req.URL, Alias: req.Alias, ExpiresAt: req.expires, Password: req.Password})
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		w.Header().Set("Location", "/api/v1/links/"+link.Code)
		encode(w, http.StatusCreated, d.toResponse(link))
	})
}

func handleGetLink(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		link, err := d.Service.Get(r.Context(), chi.URLParam(r, "code"))
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		resp := d.fullResponse(link)
		if link.Protected() && !d.isAdmin(r) {
			resp.URL = "" // the target is for those who know the password
		}
		encode(w, http.StatusOK, resp)
	})
}

func handleDeleteLink(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Service.Delete(r.Context(), chi.URLParam(r, "code")); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
