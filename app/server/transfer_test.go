package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app/server"
)

type importLine struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Result  string `json:"result"`
	Reason  string `json:"reason"`
	Done    *bool  `json:"done"`
	Created int64  `json:"created"`
	Skipped int64  `json:"skipped"`
	Refused int64  `json:"refused"`
	Format  string `json:"format"`
	Error   string `json:"error"`
}

func (ts *testServer) importFile(t *testing.T, query, file string) (int, []importLine, string) {
	t.Helper()
	resp, b := ts.do(t, "POST", "/api/v1/import"+query, file, bearer...)
	var lines []importLine
	if resp.StatusCode == 200 {
		sc := bufio.NewScanner(strings.NewReader(b))
		for sc.Scan() {
			var l importLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("report line %q: %v", sc.Text(), err)
			}
			lines = append(lines, l)
		}
	}
	return resp.StatusCode, lines, b
}

// Export from one server, import into another, twice: everything arrives,
// nothing changes the second time, and the bad rows are reported.
func TestExportImportAPI(t *testing.T) {
	src := newTestServer(t, nil)
	src.create(t, `{"url":"https://a.example/1","alias":"exp-a"}`)
	src.create(t, `{"url":"https://b.example/2","alias":"exp-b","password":"pw-12345"}`)
	src.create(t, `{"url":"https://c.example/3","alias":"exp-c","expires_at":"2099-01-01T00:00:00Z"}`)
	src.create(t, `{"url":"https://d.example/4","alias":"exp-d"}`)
	if r, _ := src.do(t, "DELETE", "/api/v1/links/exp-d", "", bearer...); r.StatusCode != 204 {
		t.Fatal(r.StatusCode)
	}
	for range 2 {
		src.do(t, "GET", "/exp-a", "")
	}
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			resp, export := src.do(t, "GET", "/api/v1/export?format="+format, "", bearer...)
			wantType := map[string]string{"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}[format]
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType || !strings.Contains(resp.Header.Get("Content-Disposition"), "links."+format) {
				t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
			}
			if !strings.Contains(export, "exp-d") || !strings.Contains(export, "$argon2id$") || strings.Contains(export, "pw-12345") {
				t.Fatalf("export lacks the deleted link or the hash, or holds the password:\n%s", export)
			}
			dst := newTestServer(t, nil)
			file := export + "\n" + map[string]string{
				"jsonl": `{"code":"bad","url":"ftp://x.example/"}` + "\n" + `{oops`,
				"csv":   "bad,ftp://x.example/,,,,,,\r\nbroken,\"https://x\r\n",
			}[format]
			st, lines, raw := dst.importFile(t, "", file)
			if st != 200 || len(lines) != 3 {
				t.Fatalf("import: %d %s", st, raw)
			}
			sum := lines[2]
			if sum.Done == nil || !*sum.Done || sum.Created != 4 || sum.Skipped != 0 || sum.Refused != 2 || sum.Format != format {
				t.Fatalf("summary %s", raw)
			}
			if lines[0].Result != "refused" || lines[0].Code != "bad" || !strings.Contains(lines[0].Reason, `scheme "ftp"`) || lines[1].Result != "refused" {
				t.Fatalf("refused rows %s", raw)
			}
			// The links arrived as they were.
			if r, _ := dst.do(t, "GET", "/exp-a", ""); r.StatusCode != 302 || r.Header.Get("Location") != "https://a.example/1" {
				t.Fatalf("imported exp-a: %d", r.StatusCode)
			}
			if r, body := dst.do(t, "GET", "/exp-b", ""); r.StatusCode != 200 || strings.Contains(body, "b.example") {
				t.Fatalf("imported protected link: %d", r.StatusCode)
			}
			if r, _ := dst.do(t, "POST", "/exp-b", unlockForm("pw-12345"), formType...); r.StatusCode != 302 || r.Header.Get("Location") != "https://b.example/2" {
				t.Fatalf("the imported hash does not open the link: %d", r.StatusCode)
			}
			if r, _ := dst.do(t, "GET", "/exp-d", ""); r.StatusCode != 410 {
				t.Fatalf("imported deleted link: %d", r.StatusCode)
			}
			if _, meta := dst.do(t, "GET", "/api/v1/links/exp-a", ""); !strings.Contains(meta, `"visits":3`) {
				t.Fatalf("visits not carried over (2 imported, 1 here): %s", meta)
			}
			// Idempotent.
			st, lines, raw = dst.importFile(t, "?format="+format, file)
			if last := lines[len(lines)-1]; st != 200 || last.Created != 0 || last.Skipped != 4 || last.Refused != 2 {
				t.Fatalf("second import: %s", raw)
			}
		})
	}
}

func TestImportAndExportAnswers(t *testing.T) {
	ts := newTestServer(t, func(d *server.Deps) { d.MaxImportBytes = 4096 })
	for _, tt := range []struct {
		method, path, body string
		header             []string
		status             int
		want               string
	}{
		{"GET", "/api/v1/export", "", nil, 401, "admin API key"},
		{"GET", "/api/v1/export", "", []string{"Authorization", "Bearer wrong-key-0123456789"}, 403, "not valid"},
		{"GET", "/api/v1/export?format=xml", "", bearer, 422, `export format "xml"`},
		{"POST", "/api/v1/import", "https://a.example/\n", nil, 401, "admin API key"},
		{"POST", "/api/v1/import", "https://a.example/\n", []string{"Authorization", "Bearer wrong-key-0123456789"}, 403, "not valid"},
		{"POST", "/api/v1/import?format=xml", "x", bearer, 400, "not one of auto, jsonl, csv, shlink, yourls, plain"},
		{"POST", "/api/v1/import?format=csv", "url,title\nhttps://a.example/,x\n", bearer, 400, "lacks the columns code and url"},
		{"POST", "/api/v1/import", strings.Repeat("x", 5000), bearer, 413, "cannot be imported"},
	} {
		resp, b := ts.do(t, tt.method, tt.path, tt.body, tt.header...)
		if resp.StatusCode != tt.status || !strings.Contains(errText(b), tt.want) {
			t.Errorf("%s %s: %d %s, want %d saying %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.want)
		}
	}
	// A file over the limit after its first rows: those are imported, the
	// report ends with the error.
	var file strings.Builder
	for i := 0; file.Len() < 6000; i++ {
		fmt.Fprintf(&file, "https://big.example/%d,big%04d\n", i, i)
	}
	st, lines, raw := ts.importFile(t, "", file.String())
	last := lines[len(lines)-1]
	if st != 200 || last.Done == nil || *last.Done || !strings.Contains(last.Error, "larger than 4096 bytes") || last.Created == 0 {
		t.Fatalf("file over the limit: %d %s", st, raw)
	}
	if r, _ := ts.do(t, "GET", "/big0000", ""); r.StatusCode != 302 {
		t.Fatalf("rows before the limit were not imported: %d", r.StatusCode)
	}
}

// One import at a time: a second while the first still reads its file
// answers 409.
func TestImportOneAtATime(t *testing.T) {
	ts := newTestServer(t, nil)
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/import", pr)
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := ts.client.Do(req)
		if err != nil {
			first <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("https://a.example/,first\n")); err != nil {
		t.Fatal(err)
	}
	var status int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, _ := ts.do(t, "POST", "/api/v1/import", "https://b.example/,second\n", bearer...)
		if status = resp.StatusCode; status == http.StatusConflict {
			break
		}
	}
	pw.Close()
	if status != http.StatusConflict {
		t.Fatalf("second import while the first runs: %d, want 409", status)
	}
	if st := <-first; st != 200 {
		t.Fatalf("first import: %d", st)
	}
}
