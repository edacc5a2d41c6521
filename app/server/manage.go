package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/app"
)

// listResponse is GET /api/v1/links.
type listResponse struct {
	Links      []linkResponse `json:"links"`
	NextCursor *string        `json:"next_cursor"` // null on the last page
}

// handleListLinks answers GET /api/v1/links (admin key): newest first,
// ?limit= (1..500, default 50), ?cursor=, ?state=, ?q=, ?created_from=
// and ?created_to= (RFC 3339).
func handleListLinks(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lq := app.ListQuery{State: q.Get("state"), Search: q.Get("q"), Cursor: q.Get("cursor")}
		var err error
		if v := q.Get("limit"); v != "" {
			if lq.Limit, err = strconv.Atoi(v); err != nil {
				writeError(w, r, d.Logger, app.Errorf(app.EINVALID, "limit %q is not a whole number", v))
				return
			}
			if lq.Limit < 1 { // 0 means "the default" to the service, not here
				writeError(w, r, d.Logger, app.Errorf(app.EINVALID, "limit %d is outside 1..%d", lq.Limit, app.MaxListLimit))
				return
			}
		}
		for name, dst := range map[string]**time.Time{"created_from": &lq.CreatedFrom, "created_to": &lq.CreatedTo} {
			if v := q.Get(name); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					writeError(w, r, d.Logger, app.Errorf(app.EINVALID, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name))
					return
				}
				*dst = &t
			}
		}
		page, err := d.Service.List(r.Context(), lq)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		resp := listResponse{Links: make([]linkResponse, 0, len(page.Links))}
		for _, l := range page.Links {
			resp.Links = append(resp.Links, d.fullResponse(l))
		}
		if page.NextCursor != "" {
			resp.NextCursor = &page.NextCursor
		}
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, resp)
	})
}

// updateLinkRequest is the body of PATCH /api/v1/links/{code}. expires_at
// and password keep their raw JSON: absent leaves the field, null clears
// it, a value sets it.
type updateLinkRequest struct {
	URL       *string         `json:"url"`
	ExpiresAt json.RawMessage `json:"expires_at"`
	Disabled  *bool           `json:"disabled"`
	Password  json.RawMessage `json:"password"`

	req app.UpdateRequest
}

func (*updateLinkRequest) allowedFields() string { return "url, expires_at, disabled and password" }

var jsonNull = []byte("null")

// Valid reads expires_at and password; the link rules live in app.
func (u *updateLinkRequest) Valid() error {
	u.req = app.UpdateRequest{URL: u.URL, Disabled: u.Disabled}
	switch {
	case len(u.ExpiresAt) == 0:
	case bytes.Equal(u.ExpiresAt, jsonNull):
		u.req.ClearExpiry = true
	default:
		var s string
		if json.Unmarshal(u.ExpiresAt, &s) != nil {
			return app.Errorf(app.EINVALID, `field "expires_at" must be an RFC 3339 time such as "2030-01-02T15:04:05Z", or null to remove the expiry`)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return app.Errorf(app.EINVALID, `field "expires_at" must be an RFC 3339 time such as "2030-01-02T15:04:05Z", or null to remove the expiry`)
		}
		u.req.ExpiresAt = &t
	}
	switch {
	case len(u.Password) == 0:
	case bytes.Equal(u.Password, jsonNull):
		u.req.ClearPassword = true
	default:
		var s string
		if json.Unmarshal(u.Password, &s) != nil {
			return app.Errorf(app.EINVALID, `field "password" must be a string, or null to remove the protection`)
		}
		u.req.Password = &s
	}
	return nil
}

// handleUpdateLink answers PATCH /api/v1/links/{code} (admin key) with the
// link as changed.
func handleUpdateLink(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := decode[*updateLinkRequest](w, r)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		link, err := d.Service.Update(r.Context(), chi.URLParam(r, "code"), body.req)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		encode(w, http.StatusOK, d.fullResponse(link))
	})
}

// visitsResponse is GET /api/v1/links/{code}/visits.
type visitsResponse struct {
	Code  string     `json:"code"`
	Total int64      `json:"total"`
	From  string     `json:"from"`
	To    string     `json:"to"`
	Days  []dayCount `json:"days"`
}

type dayCount struct {
	Date   string `json:"date"`
	Visits int64  `json:"visits"`
}

// visitRange reads ?days= (ending today) or ?from= and ?to= (dates, both
// included) into [from, to).
func visitRange(r *http.Request, now time.Time) (from, to time.Time, err error) {
	q := r.URL.Query()
	today := app.Day(now)
	to = today.AddDate(0, 0, 1)
	days := app.DefaultVisitDays
	if v := q.Get("days"); v != "" {
		if days, err = strconv.Atoi(v); err != nil || days < 1 || days > app.MaxVisitDays {
			return from, to, app.Errorf(app.EINVALID, "days must be a whole number from 1 to %d", app.MaxVisitDays)
		}
	}
	from = to.AddDate(0, 0, -days)
	parse := func(name string) (*time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return nil, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "%s must be a date such as 2026-01-02", name)
		}
		return &t, nil
	}
	f, err := parse("from")
	if err != nil {
		return from, to, err
	}
	t, err := parse("to")
	if err != nil {
		return from, to, err
	}
	if t != nil {
		to = t.AddDate(0, 0, 1)
		if f == nil {
			from = to.AddDate(0, 0, -days)
		}
	}
	if f != nil {
		from = *f
	}
	return from, to, nil
}

// handleLinkVisits answers GET /api/v1/links/{code}/visits: visits per UTC
// day, every day of the range listed (0 when none).
func handleLinkVisits(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		from, to, err := visitRange(r, d.now())
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		link, err := d.Service.Get(r.Context(), code)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		days, err := d.Service.DailyVisits(r.Context(), code, from, to)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		resp := visitsResponse{Code: link.Code, Total: link.Visits, From: from.Format(time.DateOnly),
			To: to.AddDate(0, 0, -1).Format(time.DateOnly), Days: make([]dayCount, len(days))}
		for i, dc := range days {
			resp.Days[i] = dayCount{Date: dc.Day.Format(time.DateOnly), Visits: dc.Visits}
		}
		encode(w, http.StatusOK, resp)
	})
}
