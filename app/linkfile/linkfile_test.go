package linkfile_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/linkfile"
)

// readAll reads every row of file in format.
func readAll(t *testing.T, file, format string) (string, []app.ImportRow) {
	t.Helper()
	rd, err := linkfile.NewReader(strings.NewReader(file), format)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", format, err)
	}
	var rows []app.ImportRow
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Format, rows
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
}

// want is what a test expects of a row: its line, code, URL, visits,
// created time (RFC 3339, "" for none) or the start of its refusal.
type want struct {
	line    int
	code    string
	url     string
	visits  int64
	created string
	err     string
}

func check(t *testing.T, rows []app.ImportRow, wants []want) {
	t.Helper()
	if len(rows) != len(wants) {
		for _, r := range rows {
			t.Logf("row %+v", r)
		}
		t.Fatalf("%d rows, want %d", len(rows), len(wants))
	}
	for i, w := range wants {
		r := rows[i]
		if r.Line != w.line {
			t.Errorf("row %d: line %d, want %d", i, r.Line, w.line)
		}
		if w.err != "" {
			if r.Err == nil || !strings.Contains(r.Err.Error(), w.err) {
				t.Errorf("line %d: error %v, want one saying %q", w.line, r.Err, w.err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("line %d: unexpected error %v", w.line, r.Err)
			continue
		}
		created := ""
		if r.CreatedAt != nil {
			created = r.CreatedAt.UTC().Format(time.RFC3339)
		}
		if r.Code != w.code || r.URL != w.url || r.Visits != w.visits || created != w.created {
			t.Errorf("line %d: code %q url %q visits %d created %q; want %q %q %d %q", w.line, r.Code, r.URL, r.Visits, created, w.code, w.url, w.visits, w.created)
		}
	}
}

func TestReadFormats(t *testing.T) {
	tests := []struct {
		name, format, file, detected string
		rows                         []want
	}{
		{
			name:   "our jsonl with malformed rows",
			format: linkfile.Auto, detected: linkfile.JSONL,
			file: `{"code":"abc","url":"https://a.example/","created_at":"2026-01-02T03:04:05Z","expires_at":null,"deleted_at":null,"disabled_at":null,"password_hash":"","visits":4}` + "\n" +
				"\n" + // blank lines are skipped
				`{"code":"bad","url":` + "\n" + // cut off
				`{"code":"typ","url":"https://b.example/","visits":"many"}` + "\n" +
				`{"code":"unk","url":"https://b.example/","colour":"red"}` + "\n" +
				`{"code":"tim","url":"https://b.example/","created_at":"yesterday"}` + "\n" +
				`{"code":"two","url":"https://b.example/"} {"x":1}` + "\n" +
				`{"code":"end","url":"https://c.example/"}`, // no final newline
			rows: []want{
				{line: 1, code: "abc", url: "https://a.example/", visits: 4, created: "2026-01-02T03:04:05Z"},
				{line: 3, err: "not a JSON object"},
				{line: 4, err: `field "visits" must be a int64`},
				{line: 5, err: `unknown field "colour"`},
				{line: 6, err: "not RFC 3339"},
				{line: 7, err: "more than one JSON value"},
				{line: 8, code: "end", url: "https://c.example/"},
			},
		},
		{
			name:   "our csv",
			format: linkfile.Auto, detected: linkfile.CSV,
			file: "\ufeffcode,url,created_at,expires_at,deleted_at,disabled_at,password_hash,visits\r\n" +
				"abc,https://a.example/?x=1,2026-01-02T03:04:05.123Z,,,,,7\r\n" +
				`qq,"https://b.example/a,b",,,,,,` + "\r\n" +
				"short,https://c.example/\r\n" +
				"cnt,https://d.example/,,,,,,seven\r\n" +
				`oops,"https://e.example/,,,,,,` + "\r\n" +
				"ok2,https://f.example/,,,,,,0\r\n",
			rows: []want{
				{line: 2, code: "abc", url: "https://a.example/?x=1", visits: 7, created: "2026-01-02T03:04:05Z"},
				{line: 3, code: "qq", url: "https://b.example/a,b"},
				{line: 4, err: "2 fields, the header has 8"},
				{line: 5, err: `visits "seven" is not a whole number`},
				{line: 6, err: "quoted field is not closed"},
				{line: 7, code: "ok2", url: "https://f.example/"},
			},
		},
		{
			name:   "shlink web client export",
			format: linkfile.Auto, detected: linkfile.Shlink,
			file: "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\r\n" +
				"2023-05-01T10:00:00+02:00,s.test,abc12,https://s.test/abc12,https://example.com/one,One,a|b,12\r\n" +
				"2023-05-02T10:00:00+02:00,s.test,t2,https://s.test/t2,https://example.com/two,\"A title\r\nover two lines, with a comma\",,0\r\n" +
				"not a date,s.test,bad,https://s.test/bad,https://example.com/bad,,,1\r\n" +
				"2023-05-03T00:00:00Z,s.test,last,https://s.test/last,https://example.com/last,,,3\r\n",
			rows: []want{
				{line: 2, code: "abc12", url: "https://example.com/one", visits: 12, created: "2023-05-01T08:00:00Z"},
				{line: 3, code: "t2", url: "https://example.com/two", created: "2023-05-02T08:00:00Z"},
				{line: 5, err: `createdAt "not a date" is not a time`},
				{line: 6, code: "last", url: "https://example.com/last", visits: 3, created: "2023-05-03T00:00:00Z"},
			},
		},
		{
			name:   "yourls table",
			format: linkfile.YOURLS, detected: linkfile.YOURLS,
			file: "keyword,url,title,timestamp,ip,clicks\n" +
				"ozh,http://ozh.org/,Ozh,2009-12-24 14:20:04,127.0.0.1,42\n" +
				"bad,https://x.example/,,24/12/2009,127.0.0.1,1\n" +
				"neg,https://y.example/,,2010-01-01 00:00:00,::1,-3\n",
			rows: []want{
				{line: 2, code: "ozh", url: "http://ozh.org/", visits: 42, created: "2009-12-24T14:20:04Z"},
				{line: 3, err: `timestamp "24/12/2009" is not a time`},
				{line: 4, code: "neg", url: "https://y.example/", visits: -3, created: "2010-01-01T00:00:00Z"}, // refused later by the rules
			},
		},
		{
			name:   "yourls import/export plugin",
			format: linkfile.Auto, detected: linkfile.YOURLS,
			file: "source,target,hits\r\n/ozh/,http://ozh.org/,42\r\n/y/,\"https://y.example/?a=\"\"q\"\"\",\r\n/z/,https://z.example/,x\r\n",
			rows: []want{
				{line: 2, code: "ozh", url: "http://ozh.org/", visits: 42},
				{line: 3, code: "y", url: `https://y.example/?a="q"`},
				{line: 4, err: `hits "x" is not a whole number`},
			},
		},
		{
			name:   "plain without header",
			format: linkfile.Auto, detected: linkfile.Plain,
			file: "https://a.example/\nhttps://b.example/,mine\nhttps://c.example/,x,y\n\"https://d.example/\n",
			rows: []want{
				{line: 1, url: "https://a.example/"},
				{line: 2, code: "mine", url: "https://b.example/"},
				{line: 3, err: "3 fields"},
				{line: 4, err: "quoted field is not closed"},
			},
		},
		{
			name:   "plain with header",
			format: linkfile.Plain, detected: linkfile.Plain,
			file: "URL,Alias\nhttps://a.example/,al1\n",
			rows: []want{{line: 2, code: "al1", url: "https://a.example/"}},
		},
		{
			name:   "empty file",
			format: linkfile.Auto, detected: linkfile.Plain,
			file: "\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format, rows := readAll(t, tt.file, tt.format)
			if format != tt.detected {
				t.Fatalf("read as %s, want %s", format, tt.detected)
			}
			check(t, rows, tt.rows)
		})
	}
}

// A line longer than MaxRowBytes is refused on its own and reading goes
// on with the next line: memory stays bounded.
func TestLongRowRefusedAndSkipped(t *testing.T) {
	long := "https://x.example/" + strings.Repeat("a", linkfile.MaxRowBytes*3)
	file := "https://a.example/\n" + long + "\nhttps://b.example/\n" + long // the last without newline
	_, rows := readAll(t, file, linkfile.Plain)
	check(t, rows, []want{
		{line: 1, url: "https://a.example/"},
		{line: 2, err: "longer than"},
		{line: 3, url: "https://b.example/"},
		{line: 4, err: "longer than"},
	})
	// In Shlink's format a quoted field may span lines, but not without end.
	file = "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\n" +
		",d,a1,u,https://a.example/,\"open title\n" + strings.Repeat("more\n", linkfile.MaxRowBytes/4)
	_, rows = readAll(t, file, linkfile.Auto)
	if len(rows) == 0 || rows[0].Err == nil || !strings.Contains(rows[0].Err.Error(), "not closed") {
		t.Fatalf("an unclosed quote over many lines: %+v", rows)
	}
}

func TestFormatErrors(t *testing.T) {
	for _, tt := range []struct{ name, format, file, want string }{
		{"unknown format", "xml", "", "not one of"},
		{"csv without code", linkfile.CSV, "url,visits\nhttps://a.example/,1\n", "lacks the columns code and url"},
		{"csv with an unknown column", linkfile.CSV, "code,url,colour\n", `unknown column "colour"`},
		{"shlink header missing", linkfile.Shlink, "code,url\n", "lacks shortCode and longUrl"},
		{"yourls header missing", linkfile.YOURLS, "code,url\n", "neither YOURLS' table"},
		{"plain header with extra columns", linkfile.Plain, "url,alias,title\n", "want url or url,alias"},
		{"first row too long", linkfile.Auto, strings.Repeat("x", linkfile.MaxRowBytes+10) + "\n", "first row is longer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := linkfile.NewReader(strings.NewReader(tt.file), tt.format)
			if !errors.Is(err, linkfile.ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a format error saying %q", err, tt.want)
			}
		})
	}
}

// What the writer writes, the reader reads back with every field.
func TestExportRoundTrip(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	del := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	links := []*app.Link{
		{Code: "abc", URL: "https://a.example/?q=a,b&c=\"d\"", CreatedAt: time.Date(2026, 5, 6, 7, 8, 9, 123_000_000, time.UTC), ExpiresAt: &exp, Visits: 9},
		{Code: "gone", URL: "https://b.example/", CreatedAt: time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC), DeletedAt: &del, DisabledAt: &del,
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$a2V5"},
	}
	for _, format := range linkfile.ExportFormats {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := linkfile.NewWriter(&buf, format)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range links {
				if err := w.Write(l); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			detected, rows := readAll(t, buf.String(), linkfile.Auto)
			if detected != format {
				t.Fatalf("auto read our %s export as %s", format, detected)
			}
			if len(rows) != len(links) {
				t.Fatalf("%d rows back, want %d:\n%s", len(rows), len(links), buf.String())
			}
			for i, l := range links {
				r := rows[i]
				got := app.Link{Code: r.Code, URL: r.URL, CreatedAt: *r.CreatedAt, ExpiresAt: r.ExpiresAt, DeletedAt: r.DeletedAt,
					DisabledAt: r.DisabledAt, PasswordHash: r.PasswordHash, Visits: r.Visits}
				if r.Err != nil || !sameLink(&got, l) {
					t.Errorf("row %d: %+v (err %v), want %+v", i, got, r.Err, *l)
				}
			}
		})
	}
	var buf bytes.Buffer
	w, _ := linkfile.NewWriter(&buf, linkfile.CSV)
	if err := w.Flush(); err != nil || !strings.HasPrefix(buf.String(), "code,url,") {
		t.Fatalf("an empty CSV export has no header: %q %v", buf.String(), err)
	}
	if _, err := linkfile.NewWriter(&buf, "xml"); err == nil {
		t.Fatal("unknown export format accepted")
	}
}

func sameLink(a, b *app.Link) bool {
	eq := func(x, y *time.Time) bool { return (x == nil && y == nil) || (x != nil && y != nil && x.Equal(*y)) }
	return a.Code == b.Code && a.URL == b.URL && a.CreatedAt.Equal(b.CreatedAt) && eq(a.ExpiresAt, b.ExpiresAt) &&
		eq(a.DeletedAt, b.DeletedAt) && eq(a.DisabledAt, b.DisabledAt) && a.PasswordHash == b.PasswordHash && a.Visits == b.Visits
}
