package server

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/obsshort/shortener/app"
)

// previewData fills preview.html: where a link goes (unless protected),
// and its visits over the last days as a chart drawn on the server (an
// SVG, no script).
type previewData struct {
	Code      string
	ShortURL  string
	URL       string // "" for a protected link
	Host      string
	Protected bool
	CreatedAt string
	ExpiresAt string
	Visits    int64
	Chart     chart
}

// chart is a bar chart of visits per day, laid out here so the template
// only places rectangles.
type chart struct {
	Width, Height int
	Bars          []chartBar
	Max           int64
	From, To      string
	Total         int64
}

type chartBar struct {
	X, Y, W, H int
	Label      string // the bar's tooltip: day and count
}

const (
	chartDays   = 30
	chartBarW   = 8
	chartGap    = 2
	chartHeight = 80
)

func newChart(days []app.DayCount) chart {
	c := chart{Width: len(days) * (chartBarW + chartGap), Height: chartHeight}
	for _, d := range days {
		c.Max = max(c.Max, d.Visits)
		c.Total += d.Visits
	}
	for i, d := range days {
		h := 0
		if c.Max > 0 {
			h = int(d.Visits * (chartHeight - 2) / c.Max)
		}
		if d.Visits > 0 {
			h = max(h, 2) // a day with visits is never invisible
		}
		noun := "visits"
		if d.Visits == 1 {
			noun = "visit"
		}
		c.Bars = append(c.Bars, chartBar{X: i * (chartBarW + chartGap), Y: chartHeight - h, W: chartBarW, H: h,
			Label: fmt.Sprintf("%s: %d %s", d.Day.Format(time.DateOnly), d.Visits, noun)})
	}
	if len(days) > 0 {
		c.From, c.To = days[0].Day.Format("2 Jan"), days[len(days)-1].Day.Format("2 Jan")
	}
	return c
}

// handlePreview answers GET /{code}+: where the link goes, before going
// there, and how often it was followed in the last 30 days. A protected
// link's target is not shown; a link that no longer redirects answers as
// the redirect would (404, 410).
func handlePreview(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := chi.URLParam(r, "code")
		link, err := d.Service.Get(r.Context(), code)
		if err == nil {
			switch link.State(d.now()) {
			case app.LinkDeleted:
				err = app.Errorf(app.EGONE, "link %s was deleted", code)
			case app.LinkDisabled:
				err = app.Errorf(app.EGONE, "link %s has been disabled by its owner", code)
			case app.LinkExpired:
				err = app.Errorf(app.EGONE, "link %s has expired", code)
			}
		}
		var days []app.DayCount
		if err == nil {
			to := app.Day(d.now()).AddDate(0, 0, 1)
			days, err = d.Service.DailyVisits(r.Context(), code, to.AddDate(0, 0, -chartDays), to)
		}
		if err != nil {
			renderProblem(w, r, d, err)
			return
		}
		data := previewData{
			Code: link.Code, ShortURL: d.shortURL(link.Code), Protected: link.Protected(),
			CreatedAt: link.CreatedAt.Format("2 Jan 2006"), Visits: link.Visits, Chart: newChart(days),
		}
		if link.ExpiresAt != nil {
			data.ExpiresAt = link.ExpiresAt.Format("2 Jan 2006 15:04 MST")
		}
		if !link.Protected() {
			data.URL, data.Host = link.URL, hostOf(link.URL)
		}
		w.Header().Set("Cache-Control", "no-store")
		d.render(w, r, http.StatusOK, "preview.html", data)
	})
}

// hostOf is the host[:port] of a stored (valid) URL, what the preview
// puts first: people judge a link by where it leads.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}
