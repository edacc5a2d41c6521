package server

import (
	"bytes"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	goqr "github.com/piglig/go-qr"

	"github.com/obsshort/shortener/app"
)

// handleRedirect answers GET /{code}: the configured redirect for live
// links, the password page for protected ones, 404 or 410 with a small
// HTML page otherwise.
func handleRedirect(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		link, err := d.Service.Resolve(r.Context(), code)
		if err != nil {
			if app.ErrorCode(err) == app.EPROTECTED {
				servePasswordPage(w, r, d, code, http.StatusOK, "") // protected.go
				return
			}
			renderProblem(w, r, d, err)
			return
		}
		// No body: http.Redirect would add a small HTML page that no
		// client following the Location needs (and that costs per request).
		h := w.Header()
		h.Set("Location", asciiLocation(link.URL))
		h.Set("Cache-Control", "private, max-age=0")
		w.WriteHeader(d.RedirectStatus)
	})
}

// handleQR answers GET /{code}/qr with a PNG QR code of the short URL.
func handleQR(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		link, err := d.Service.Get(r.Context(), code)
		if err == nil {
			if st := link.State(d.now()); st != app.LinkLive {
				err = app.Errorf(app.EGONE, "link %s is no longer available", code)
			}
		}
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		png, err := qrPNG(d.shortURL(link.Code))
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = bytes.NewReader(png).WriteTo(w)
	})
}

// QR code images: about qrPixels wide, with the standard quiet zone of 4
// modules around the symbol.
const (
	qrPixels = 256
	qrBorder = 4
)

// qrPNG renders text as a PNG QR code with medium error correction (15% of
// the symbol may be damaged), a whole number of pixels per module so edges
// stay crisp for scanners.
func qrPNG(text string) ([]byte, error) {
	qr, err := goqr.EncodeText(text, goqr.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	modules := qr.Size() + 2*qrBorder
	scale := max(1, (qrPixels+modules/2)/modules)
	png, err := qr.ToPNGBytes(goqr.NewQrCodeImgConfig(scale, qrBorder))
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	return png, nil
}

// asciiLocation percent-encodes non-ASCII bytes (which a stored query or
// fragment may hold) so the Location header is plain ASCII, as
// http.Redirect does.
func asciiLocation(u string) string {
	n := 0
	for i := 0; i < len(u); i++ {
		if u[i] >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return u
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(u)+2*n)
	for i := 0; i < len(u); i++ {
		if c := u[i]; c >= utf8.RuneSelf {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
