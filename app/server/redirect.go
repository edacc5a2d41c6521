package server

import (
	"bytes"
	"net/http"

	"github.com/go-chi/chi/v5"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/obsshort/shortener/app"
)

// handleRedirect answers GET /{code}: the configured redirect for live
// links, 404 or 410 with a small HTML page otherwise.
func handleRedirect(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		link, err := d.Service.Resolve(r.Context(), code)
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		w.Header().Set("Cache-Control", "private, max-age=0")
		http.Redirect(w, r, link.URL, d.RedirectStatus)
	})
}

// handleQR answers GET /{code}/qr with a PNG QR code of the short URL.
func handleQR(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		link, err := d.Service.Get(r.Context(), code)
		if err == nil {
			if st := link.State(timeNow()); st != app.LinkLive {
				err = app.Errorf(app.EGONE, "link %s is no longer available", code)
			}
		}
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		png, err := qrcode.Encode(d.shortURL(link.Code), qrcode.Medium, 256)
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = bytes.NewReader(png).WriteTo(w)
	})
}
