package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/linkfile"
)

// transferIdle is how long an export or import may make no progress (the
// client reads or sends nothing) before the connection is cut. The
// server's --read-timeout and --write-timeout bound whole ordinary
// requests; a transfer of a million links takes longer, so its deadlines
// move forward while it progresses.
const transferIdle = time.Minute

// deadlines moves a transfer's read and write deadlines forward, at most
// once a second.
type deadlines struct {
	rc   *http.ResponseController
	last time.Time
}

func (d *deadlines) extend() {
	now := time.Now()
	if now.Sub(d.last) < time.Second {
		return
	}
	d.last = now
	// Errors mean the writer cannot move deadlines (a test recorder):
	// the server's own timeouts then stay.
	_ = d.rc.SetReadDeadline(now.Add(transferIdle))
	_ = d.rc.SetWriteDeadline(now.Add(transferIdle))
}

// handleExport answers GET /api/v1/export?format=jsonl|csv (admin key) with
// every link, streamed. A failure once the body has started cuts the
// connection, so a client never takes a cut-off export for a whole one.
func handleExport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("format")
		if format == "" {
			format = linkfile.JSONL
		}
		lw, err := linkfile.NewWriter(w, format)
		if err != nil {
			writeError(w, r, d.Logger, app.Errorf(app.EINVALID, "%s", err.Error()))
			return
		}
		h := w.Header()
		if format == linkfile.CSV {
			h.Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			h.Set("Content-Type", "application/x-ndjson")
		}
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="links.%s"`, format))
		h.Set("Cache-Control", "no-store")
		dl := &deadlines{rc: http.NewResponseController(w)}
		dl.extend()
		n := 0
		err = d.Service.Export(r.Context(), func(l *app.Link) error {
			if n++; n%1000 == 0 {
				dl.extend()
			}
			return lw.Write(l)
		})
		if err == nil {
			err = lw.Flush()
		}
		if err != nil {
			d.Logger.ErrorContext(r.Context(), "export failed; connection cut", "links_written", n, "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// importSummary is the last line of an import's report.
type importSummary struct {
	Done bool `json:"done"`
	app.ImportTotals
	Format string `json:"format"`
	Error  string `json:"error,omitempty"`
}

// handleImport answers POST /api/v1/import?format=... (admin key): the body
// is the file. The answer streams as JSON lines: one per refused row
// (line, code, reason) as the import goes, then a summary with the counts
// of created, skipped and refused rows. A file whose format cannot be read
// is refused before anything is stored (400); a failure later (the store,
// the connection, the size limit) ends the report with "done": false and
// the error; the rows before it are stored, and running the import again
// picks up where it stopped.
func handleImport(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case d.imports <- struct{}{}:
			defer func() { <-d.imports }()
		default:
			writeError(w, r, d.Logger, app.Errorf(app.ECONFLICT, "another import is running on this instance; wait for it to finish"))
			return
		}
		format := r.URL.Query().Get("format")
		if format == "" {
			format = linkfile.Auto
		}
		rc := http.NewResponseController(w)
		// The connection is not reused after an import: the file may be
		// left unread (the size limit, a failed store), and net/http
		// panicked ("invalid concurrent Body.Read call", seen with
		// go1.26.8) reading the next request on a full-duplex connection
		// whose body a handler had left unread.
		w.Header().Set("Connection", "close")
		dl := &deadlines{rc: rc}
		dl.extend()
		body := &progressReader{r: http.MaxBytesReader(w, r.Body, d.maxImportBytes()), progress: dl.extend}
		rd, err := linkfile.NewReader(body, format)
		if err != nil {
			status := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			writeError(w, r, d.Logger, &requestError{status, "the file cannot be imported: " + err.Error()})
			return
		}
		// The report streams while the file is still being read.
		if err := rc.EnableFullDuplex(); err != nil {
			d.Logger.WarnContext(r.Context(), "import: full duplex not available; the report may be cut", "err", err)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		totals, err := d.Service.Import(r.Context(), rd, func(res app.ImportResult) error {
			if res.Result != app.ImportRefused {
				return nil
			}
			return enc.Encode(res)
		})
		sum := importSummary{Done: err == nil, ImportTotals: totals, Format: rd.Format}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				sum.Error = fmt.Sprintf("the file is larger than %d bytes (--import-max-mib); the rows before the limit were imported", d.maxImportBytes())
			case app.ErrorCode(err) == app.EINTERNAL:
				d.Logger.ErrorContext(r.Context(), "import failed", "err", err)
				sum.Error = app.ErrorMessage(err)
			default:
				sum.Error = app.ErrorMessage(err)
			}
		}
		_ = enc.Encode(sum)
		_ = rc.Flush()
	})
}

// progressReader calls progress on every read: an import that keeps
// receiving its file keeps its deadlines.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	p.progress()
	return p.r.Read(b)
}

// DefaultMaxImportBytes bounds an import file sent to the API when the
// Deps do not say (--import-max-mib).
const DefaultMaxImportBytes = 512 << 20

func (d Deps) maxImportBytes() int64 {
	if d.MaxImportBytes > 0 {
		return d.MaxImportBytes
	}
	return DefaultMaxImportBytes
}
