package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/obsshort/shortener/app"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

var templates = template.Must(template.ParseFS(webFS, "web/templates/*.html"))

func staticFS() fs.FS {
	sub, err := fs.Sub(webFS, "web/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// historyCookie holds the codes this browser created, signed so another
// browser's list cannot be forged into it. Nothing is shared between browsers.
const (
	historyCookie = "links"
	historyMax    = 20
)

type pageForm struct {
	URL   string
	Alias string
}

type pageLink struct {
	Code     string
	ShortURL string
	URL      string
	State    string
}

type pageData struct {
	Form    pageForm
	Errors  map[string]string
	Created *pageLink
	Links   []pageLink
}

const (
	problemTemplate = "problem.html"
	internalMessage = "internal error; the request was not completed, try again later"
)

// render executes the template into a buffer before anything is sent, so a
// template error never leaves half a page: it is logged and answered 500
// with the problem page (plain text if that page fails too).
func (d Deps) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		d.Logger.ErrorContext(r.Context(), "render page failed", "template", name, "route", routePattern(r), "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		if name == problemTemplate || templates.ExecuteTemplate(&buf, problemTemplate, problemData{Title: http.StatusText(status), Message: internalMessage}) != nil {
			http.Error(w, internalMessage, status)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func handleIndex(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := pageData{Errors: map[string]string{}}
		codes := d.readHistory(r)
		if c := r.URL.Query().Get("created"); c != "" && contains(codes, c) {
			if l, err := d.Service.Get(r.Context(), c); err == nil {
				data.Created = &pageLink{Code: l.Code, ShortURL: d.shortURL(l.Code), URL: l.URL}
			}
		}
		data.Links = d.historyLinks(r, codes)
		w.Header().Set("Cache-Control", "no-store")
		d.render(w, r, http.StatusOK, "index.html", data)
	})
}

// handleIndexPost creates a link from the plain HTML form, then redirects
// (post/redirect/get) so a reload does not post again.
func handleIndexPost(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		data := pageData{Errors: map[string]string{}}
		if err := r.ParseForm(); err != nil {
			status := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			data.Errors["form"] = "the form could not be read; reload the page and try again"
			d.render(w, r, status, "index.html", data)
			return
		}
		data.Form = pageForm{URL: strings.TrimSpace(r.PostForm.Get("url")), Alias: strings.TrimSpace(r.PostForm.Get("alias"))}
		link, err := d.Service.Create(r.Context(), app.CreateRequest{URL: data.Form.URL, Alias: data.Form.Alias})
		if err != nil {
			status := statusOf(err)
			if status >= 500 {
				writeErrorLog(d, r, err)
			}
			msg := messageOf(err)
			switch {
			case app.ErrorCode(err) == app.ECONFLICT || strings.HasPrefix(msg, "alias"):
				data.Errors["alias"] = msg
			case status < 500:
				data.Errors["url"] = msg
			default:
				data.Errors["form"] = msg
			}
			data.Links = d.historyLinks(r, d.readHistory(r))
			d.render(w, r, status, "index.html", data)
			return
		}
		codes := append([]string{link.Code}, d.readHistory(r)...)
		d.writeHistory(w, r, codes)
		http.Redirect(w, r, "/?created="+url.QueryEscape(link.Code), http.StatusSeeOther)
	})
}

func writeErrorLog(d Deps, r *http.Request, err error) {
	d.Logger.ErrorContext(r.Context(), "web form create failed", "err", err)
}

func (d Deps) historyLinks(r *http.Request, codes []string) []pageLink {
	out := make([]pageLink, 0, len(codes))
	for _, c := range codes {
		l, err := d.Service.Get(r.Context(), c)
		if err != nil {
			continue
		}
		pl := pageLink{Code: l.Code, ShortURL: d.shortURL(l.Code), URL: l.URL}
		if st := l.State(d.now()); st != app.LinkLive {
			pl.State = st.String()
		}
		out = append(out, pl)
	}
	return out
}

func (d Deps) sign(payload string) string {
	m := hmac.New(sha256.New, d.CookieKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// readHistory returns the codes in a valid signed cookie, newest first.
func (d Deps) readHistory(r *http.Request) []string {
	c, err := r.Cookie(historyCookie)
	if err != nil || len(d.CookieKey) == 0 {
		return nil
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(d.sign(payload))) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var codes []string
	for _, code := range strings.Split(string(raw), ",") {
		if app.ValidCodeSyntax(code) && !contains(codes, code) {
			codes = append(codes, code)
		}
	}
	return codes
}

func (d Deps) writeHistory(w http.ResponseWriter, r *http.Request, codes []string) {
	if len(d.CookieKey) == 0 {
		return
	}
	var uniq []string
	for _, c := range codes {
		if !contains(uniq, c) {
			uniq = append(uniq, c)
		}
	}
	if len(uniq) > historyMax {
		uniq = uniq[:historyMax]
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(strings.Join(uniq, ",")))
	http.SetCookie(w, &http.Cookie{
		Name: historyCookie, Value: payload + "." + d.sign(payload), Path: "/",
		MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(d.BaseURL, "https://"),
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type problemData struct {
	Title   string
	Message string
}

// renderProblem answers a redirect-side error with a small HTML page.
func renderProblem(w http.ResponseWriter, r *http.Request, d Deps, err error) {
	status := statusOf(err)
	title := http.StatusText(status)
	switch app.ErrorCode(err) {
	case app.ENOTFOUND:
		title = "Link not found"
	case app.EGONE:
		title = "Link no longer available"
	}
	if status >= 500 {
		d.Logger.ErrorContext(r.Context(), "request failed", "route", routePattern(r), "status", status, "err", err)
	}
	setSecurityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	d.render(w, r, status, problemTemplate, problemData{Title: title, Message: messageOf(err)})
}

func handleNotFound(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			encode(w, http.StatusNotFound, errorBody{Error: "no such API endpoint; see the README for the API"})
			return
		}
		securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			renderProblem(w, r, d, app.Errorf(app.ENOTFOUND, "there is nothing at this address"))
		})).ServeHTTP(w, r)
	})
}

func handleMethodNotAllowed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " is not allowed here"})
	})
}
