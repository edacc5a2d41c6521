// Package linkfile reads and writes files of links: the shortener's own
// export (JSON lines or CSV), the CSV that Shlink's web client exports,
// YOURLS' links (its table as CSV, or the Import/Export plugin's CSV) and
// a plain CSV of URL and optional alias. Readers stream: one row in
// memory at a time, each row at most MaxRowBytes, so a file of any size
// is read in bounded memory.
package linkfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/app"
)

// Formats.
const (
	Auto   = "auto"
	JSONL  = "jsonl"  // our export, one JSON object per line
	CSV    = "csv"    // our export as CSV with a header row
	Shlink = "shlink" // Shlink web client: createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits
	YOURLS = "yourls" // YOURLS: keyword,url,title,timestamp,ip,clicks (its table) or source,target,hits (Import/Export plugin)
	Plain  = "plain"  // url[,alias], with or without a header row
)

// ImportFormats are the formats a reader accepts, ExportFormats those a
// writer writes.
var (
	ImportFormats = []string{Auto, JSONL, CSV, Shlink, YOURLS, Plain}
	ExportFormats = []string{JSONL, CSV}
)

// MaxRowBytes bounds one row (a line, or a CSV record over several lines):
// a URL is at most 2 KiB, so a longer row is refused, not buffered.
const MaxRowBytes = 64 << 10

// ourColumns are the fields of our export, in CSV column order.
var ourColumns = []string{"code", "url", "created_at", "expires_at", "deleted_at", "disabled_at", "password_hash", "visits"}

// record is a link as our export writes it.
type record struct {
	Code         string     `json:"code"`
	URL          string     `json:"url"`
	CreatedAt    *time.Time `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	DeletedAt    *time.Time `json:"deleted_at"`
	DisabledAt   *time.Time `json:"disabled_at"`
	PasswordHash string     `json:"password_hash"`
	Visits       int64      `json:"visits"`
}

// Writer writes links in one format.
type Writer struct {
	w     *bufio.Writer
	enc   *json.Encoder
	csv   bool
	wrote bool
}

// NewWriter returns a writer of format (jsonl or csv) to w. Call Flush at
// the end.
func NewWriter(w io.Writer, format string) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch format {
	case JSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return &Writer{w: bw, enc: enc}, nil
	case CSV:
		return &Writer{w: bw, csv: true}, nil
	}
	return nil, fmt.Errorf("export format %q: want one of %s", format, strings.Join(ExportFormats, ", "))
}

// Write writes one link.
func (w *Writer) Write(l *app.Link) error {
	if !w.csv {
		return w.enc.Encode(record{
			Code: l.Code, URL: l.URL, CreatedAt: &l.CreatedAt, ExpiresAt: l.ExpiresAt, DeletedAt: l.DeletedAt,
			DisabledAt: l.DisabledAt, PasswordHash: l.PasswordHash, Visits: l.Visits,
		})
	}
	if !w.wrote {
		w.wrote = true
		writeCSV(w.w, ourColumns)
	}
	writeCSV(w.w, []string{l.Code, l.URL, timeText(&l.CreatedAt), timeText(l.ExpiresAt), timeText(l.DeletedAt),
		timeText(l.DisabledAt), l.PasswordHash, strconv.FormatInt(l.Visits, 10)})
	return nil
}

// Flush writes what is buffered (and, for an empty CSV export, the header).
func (w *Writer) Flush() error {
	if w.csv && !w.wrote {
		w.wrote = true
		writeCSV(w.w, ourColumns)
	}
	return w.w.Flush()
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// writeCSV writes one RFC 4180 record, quoting only where needed. (The
// bufio.Writer keeps the first error; Flush returns it.)
func writeCSV(w *bufio.Writer, fields []string) {
	for i, f := range fields {
		if i > 0 {
			w.WriteByte(',')
		}
		if f == "" || !strings.ContainsAny(f, ",\"\r\n") && f[0] != ' ' {
			w.WriteString(f)
			continue
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(f, `"`, `""`))
		w.WriteByte('"')
	}
	w.WriteString("\r\n")
}

// ErrFormat is the cause of errors about a file that is not in the format
// asked for (or in none that auto recognises).
var ErrFormat = errors.New("file format")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// lines reads physical lines of at most MaxRowBytes.
type lines struct {
	r    *bufio.Reader
	line int // lines read so far
}

// next returns the next line without its end of line; tooLong reports a
// line over the limit (its bytes are skipped, not returned).
func (l *lines) next() (text string, tooLong bool, err error) {
	var long bool
	for {
		b, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = true
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err // a read that failed: the row is not whole
		}
		if len(b) == 0 && err != nil {
			if long {
				l.line++
				return "", true, nil
			}
			return "", false, err
		}
		l.line++
		if long {
			return "", true, nil
		}
		s := string(bytes.TrimRight(b, "\r\n"))
		if l.line == 1 {
			s = strings.TrimPrefix(s, "\ufeff") // a byte order mark, as spreadsheets write
		}
		return s, false, nil
	}
}

func tooLongRow(line int) app.ImportRow {
	return app.ImportRow{Line: line, Err: fmt.Errorf("row is longer than %d bytes", MaxRowBytes)}
}
