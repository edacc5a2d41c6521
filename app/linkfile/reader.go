package linkfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/obsshort/shortener/app"
)

// Reader reads the rows of an import file (an app.RowReader).
type Reader struct {
	Format string // the format read (auto resolved)

	src  lines
	cols map[string]int // column -> index, for CSV formats with a header
	// multiline: a quoted field may hold line breaks (titles in Shlink's
	// and YOURLS' files); elsewhere an unclosed quote spoils only its line.
	multiline bool
	first     *pending // a data row read while detecting the format
	row       func(line int, fields []string) app.ImportRow
}

type pending struct {
	line   int
	text   string
	fields []string
	err    error
}

// NewReader returns a reader of r in format (one of ImportFormats; auto
// recognises the others from the first row). An error (wrapping
// ErrFormat) means the file is not in that format: nothing can be read.
func NewReader(r io.Reader, format string) (*Reader, error) {
	rd := &Reader{src: lines{r: bufio.NewReaderSize(r, MaxRowBytes)}}
	switch format {
	case Auto, JSONL, CSV, Shlink, YOURLS, Plain:
	default:
		return nil, formatErr("%q is not one of %s", format, strings.Join(ImportFormats, ", "))
	}
	if format == JSONL {
		rd.Format = JSONL
		return rd, nil
	}
	// Everything else starts with the first non-empty row: a header, or
	// (plain) maybe data.
	var first pending
	for {
		text, long, err := rd.src.next()
		if errors.Is(err, io.EOF) {
			rd.Format = format
			if format == Auto {
				rd.Format = Plain
			}
			return rd, nil // empty file: no rows
		}
		if err != nil {
			return nil, fmt.Errorf("read the first row: %w", err)
		}
		if long {
			return nil, formatErr("the first row is longer than %d bytes", MaxRowBytes)
		}
		if strings.TrimSpace(text) != "" {
			first = pending{line: rd.src.line, text: text}
			break
		}
	}
	if format == Auto && strings.HasPrefix(strings.TrimSpace(first.text), "{") {
		rd.Format = JSONL
		rd.first = &first
		return rd, nil
	}
	fields, err := rd.record(first.text)
	if err != nil {
		return nil, formatErr("line %d: %v", first.line, err)
	}
	first.fields = fields
	cols := map[string]int{}
	for i, f := range fields {
		cols[strings.ToLower(strings.TrimSpace(f))] = i
	}
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := cols[n]; !ok {
				return false
			}
		}
		return true
	}
	if format == Auto {
		switch {
		case has("shortcode", "longurl"):
			format = Shlink
		case has("keyword", "url"), has("source", "target"):
			format = YOURLS
		case has("code", "url"):
			format = CSV
		default:
			format = Plain
		}
	}
	rd.Format = format
	rd.cols = cols
	switch format {
	case CSV:
		if !has("code", "url") {
			return nil, formatErr("the header %q lacks the columns code and url of this service's CSV export", first.text)
		}
		for name := range cols {
			if !contains(ourColumns, name) {
				return nil, formatErr("unknown column %q in the header; the columns are %s", name, strings.Join(ourColumns, ","))
			}
		}
		rd.row = rd.ourCSVRow
	case Shlink:
		if !has("shortcode", "longurl") {
			return nil, formatErr("the header %q lacks shortCode and longUrl (Shlink's export has createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits)", first.text)
		}
		rd.row, rd.multiline = rd.shlinkRow, true
	case YOURLS:
		switch {
		case has("keyword", "url"):
			rd.row, rd.multiline = rd.yourlsTableRow, true
		case has("source", "target"):
			rd.row = rd.yourlsPluginRow
		default:
			return nil, formatErr("the header %q is neither YOURLS' table (keyword,url,title,timestamp,ip,clicks) nor its Import/Export plugin's CSV (source,target,hits)", first.text)
		}
	case Plain:
		rd.row = rd.plainRow
		name := strings.ToLower(strings.TrimSpace(fields[0]))
		if name == "url" {
			if len(fields) > 2 || (len(fields) == 2 && !contains([]string{"alias", "code"}, strings.ToLower(strings.TrimSpace(fields[1])))) {
				return nil, formatErr("the plain CSV header %q: want url or url,alias", first.text)
			}
			break
		}
		rd.cols = nil
		rd.first = &first // no header: the first row is data
	}
	return rd, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Next returns the next row, io.EOF after the last; other errors mean the
// file cannot be read further. A malformed row comes back with Err set.
func (rd *Reader) Next() (app.ImportRow, error) {
	for {
		var p pending
		if rd.first != nil {
			p, rd.first = *rd.first, nil
		} else {
			text, long, err := rd.src.next()
			if err != nil {
				return app.ImportRow{}, err
			}
			if long {
				return tooLongRow(rd.src.line), nil
			}
			if strings.TrimSpace(text) == "" {
				continue
			}
			p = pending{line: rd.src.line, text: text}
		}
		if rd.Format == JSONL {
			return jsonRow(p.line, p.text), nil
		}
		if p.fields == nil && p.err == nil {
			p.fields, p.err = rd.record(p.text)
		}
		if p.err != nil {
			return app.ImportRow{Line: p.line, Err: p.err}, nil
		}
		return rd.row(p.line, p.fields), nil
	}
}

// record parses one CSV record starting with line, reading more lines
// while a quoted field is open (titles may hold line breaks).
func (rd *Reader) record(line string) ([]string, error) {
	text := line
	for {
		fields, open, err := parseCSV(text)
		if err != nil || !open {
			return fields, err
		}
		if !rd.multiline {
			return nil, errors.New("a quoted field is not closed on its line")
		}
		more, long, rerr := rd.src.next()
		if rerr != nil || long || len(text)+len(more) > MaxRowBytes {
			// The lines read so far belong to this malformed row;
			// reading resumes after them.
			return nil, fmt.Errorf("a quoted field is not closed within %d bytes", MaxRowBytes)
		}
		text += "\n" + more
	}
}

// parseCSV splits one RFC 4180 record. open reports a quoted field still
// open at the end (the record continues on the next line). A quote inside
// an unquoted field is kept as a character.
func parseCSV(s string) (fields []string, open bool, err error) {
	var b strings.Builder
	i := 0
	for {
		b.Reset()
		if i < len(s) && s[i] == '"' {
			i++
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, true, nil
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if i < len(s) && s[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			if i < len(s) && s[i] != ',' {
				return nil, false, fmt.Errorf("unexpected %q after a quoted field", s[i])
			}
		} else {
			j := strings.IndexByte(s[i:], ',')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
		}
		fields = append(fields, b.String())
		if i >= len(s) {
			return fields, false, nil
		}
		i++ // the comma
	}
}

func jsonRow(line int, text string) app.ImportRow {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var rec record
	if err := dec.Decode(&rec); err != nil {
		return app.ImportRow{Line: line, Err: fmt.Errorf("not a JSON object of this service's export: %s", jsonReason(err))}
	}
	if dec.More() {
		return app.ImportRow{Line: line, Err: errors.New("more than one JSON value on the line")}
	}
	return app.ImportRow{Line: line, Code: rec.Code, URL: rec.URL, CreatedAt: rec.CreatedAt, ExpiresAt: rec.ExpiresAt,
		DeletedAt: rec.DeletedAt, DisabledAt: rec.DisabledAt, PasswordHash: rec.PasswordHash, Visits: rec.Visits}
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("a time %q is not RFC 3339", pe.Value)
	}
	return err.Error()
}

// field returns the value of column name ("" when absent).
func (rd *Reader) field(fields []string, name string) string {
	i, ok := rd.cols[name]
	if !ok || i >= len(fields) {
		return ""
	}
	return strings.TrimSpace(fields[i])
}

// rowBuilder collects a row's fields and the first reason it is refused.
type rowBuilder struct {
	row app.ImportRow
}

func (b *rowBuilder) fail(format string, args ...any) {
	if b.row.Err == nil {
		b.row.Err = fmt.Errorf(format, args...)
	}
}

func (b *rowBuilder) time(name, v string, layouts ...string) *time.Time {
	if v == "" {
		return nil
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return &t
		}
	}
	b.fail("%s %q is not a time (%s)", name, v, layouts[0])
	return nil
}

func (b *rowBuilder) count(name, v string) int64 {
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		b.fail("%s %q is not a whole number", name, v)
	}
	return n
}

func (b *rowBuilder) done() app.ImportRow {
	if b.row.Err != nil {
		return app.ImportRow{Line: b.row.Line, Code: b.row.Code, Err: b.row.Err}
	}
	return b.row
}

func (rd *Reader) fieldCount(b *rowBuilder, fields []string) {
	if len(fields) != len(rd.cols) {
		b.fail("%d fields, the header has %d", len(fields), len(rd.cols))
	}
}

func (rd *Reader) ourCSVRow(line int, fields []string) app.ImportRow {
	b := rowBuilder{row: app.ImportRow{Line: line}}
	rd.fieldCount(&b, fields)
	f := func(n string) string { return rd.field(fields, n) }
	b.row.Code, b.row.URL, b.row.PasswordHash = f("code"), f("url"), f("password_hash")
	b.row.CreatedAt = b.time("created_at", f("created_at"), time.RFC3339Nano)
	b.row.ExpiresAt = b.time("expires_at", f("expires_at"), time.RFC3339Nano)
	b.row.DeletedAt = b.time("deleted_at", f("deleted_at"), time.RFC3339Nano)
	b.row.DisabledAt = b.time("disabled_at", f("disabled_at"), time.RFC3339Nano)
	b.row.Visits = b.count("visits", f("visits"))
	return b.done()
}

// shlinkRow reads a row of Shlink's web client export. Its domain, title
// and tags have no place here and are left out.
func (rd *Reader) shlinkRow(line int, fields []string) app.ImportRow {
	b := rowBuilder{row: app.ImportRow{Line: line}}
	rd.fieldCount(&b, fields)
	f := func(n string) string { return rd.field(fields, n) }
	b.row.Code, b.row.URL = f("shortcode"), f("longurl")
	b.row.CreatedAt = b.time("createdAt", f("createdat"), time.RFC3339)
	b.row.Visits = b.count("visits", f("visits"))
	return b.done()
}

// yourlsTime is how YOURLS stores timestamp (MySQL DATETIME, UTC).
const yourlsTime = "2006-01-02 15:04:05"

func (rd *Reader) yourlsTableRow(line int, fields []string) app.ImportRow {
	b := rowBuilder{row: app.ImportRow{Line: line}}
	rd.fieldCount(&b, fields)
	f := func(n string) string { return rd.field(fields, n) }
	b.row.Code, b.row.URL = f("keyword"), f("url")
	b.row.CreatedAt = b.time("timestamp", f("timestamp"), yourlsTime, time.RFC3339)
	b.row.Visits = b.count("clicks", f("clicks"))
	return b.done()
}

func (rd *Reader) yourlsPluginRow(line int, fields []string) app.ImportRow {
	b := rowBuilder{row: app.ImportRow{Line: line}}
	rd.fieldCount(&b, fields)
	f := func(n string) string { return rd.field(fields, n) }
	b.row.Code, b.row.URL = strings.Trim(f("source"), "/"), f("target")
	b.row.Visits = b.count("hits", f("hits"))
	return b.done()
}

func (rd *Reader) plainRow(line int, fields []string) app.ImportRow {
	b := rowBuilder{row: app.ImportRow{Line: line}}
	if len(fields) > 2 {
		b.fail("%d fields; a plain CSV row is a URL and an optional alias", len(fields))
	}
	b.row.URL = strings.TrimSpace(fields[0])
	if len(fields) == 2 {
		b.row.Code = strings.TrimSpace(fields[1])
	}
	return b.done()
}

var _ app.RowReader = (*Reader)(nil)
