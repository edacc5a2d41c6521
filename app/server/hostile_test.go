package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/server"
	"github.com/obsshort/shortener/internal/testenv"
)

// hostileServer runs the real public handler on a real SQLite file in a
// temporary folder, reachable over TCP like in production (newTestServer),
// optionally with a host policy.
func hostileServer(t *testing.T, hosts ...app.HostPolicy) (*httptest.Server, *http.Client) {
	t.Helper()
	ts := newTestServer(t, func(d *server.Deps) {
		if len(hosts) > 0 {
			d.Service.Hosts = hosts[0]
		}
	})
	return ts.Server, ts.client
}

// hostileCase is one row of the table in docs/security.md.
type hostileCase struct {
	name   string // the row's first column in docs/security.md
	body   string // the JSON body of POST /api/v1/links
	status int
	want   string // substring of the error message, or of the stored URL on 201
}

func jsonBody(rawURL string) string {
	b, _ := json.Marshal(map[string]string{"url": rawURL})
	return string(b)
}

func jsonAlias(alias string) string {
	b, _ := json.Marshal(map[string]string{"url": "https://example.com/", "alias": alias})
	return string(b)
}

// TestHostileInputs sends each hostile input through the real HTTP handler and
// checks the documented answer. Every case must also be a row of the table in
// docs/security.md, so the documentation cannot drift from the behaviour.
func TestHostileInputs(t *testing.T) {
	ts, client := hostileServer(t)
	self := ts.Listener.Addr().String()
	_, port, _ := strings.Cut(self, ":")
	cases := []hostileCase{
		{"javascript: URL", jsonBody("javascript:alert(document.cookie)"), 422, `scheme "javascript" is not allowed`},
		{"javascript: URL, mixed case", jsonBody("JaVaScRiPt:alert(1)"), 422, `scheme "javascript" is not allowed`},
		{"data: URL", jsonBody("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="), 422, `scheme "data" is not allowed`},
		{"file: URL", jsonBody("file:///etc/passwd"), 422, `scheme "file" is not allowed`},
		{"vbscript: URL", jsonBody("vbscript:msgbox(1)"), 422, `scheme "vbscript" is not allowed`},
		{"ftp: URL", jsonBody("ftp://example.com/file"), 422, `scheme "ftp" is not allowed`},
		{"protocol-relative URL", jsonBody("//evil.example/phish"), 422, "protocol-relative"},
		{"relative URL", jsonBody("/just/a/path"), 422, "not absolute"},
		{"scheme without host", jsonBody("https:example.com"), 422, "no host"},
		{"embedded credentials", jsonBody("https://user:secret@example.com/"), 422, "user name or password"},
		{"credentials disguised as host", jsonBody("https://paypal.com@evil.example/"), 422, "user name or password"},
		{"space in URL", jsonBody("https://example.com/a b"), 422, "whitespace or a control character"},
		{"tab or newline in URL", jsonBody("https://example.com/a\tb\n"), 422, "whitespace or a control character"},
		{"NUL byte in URL", jsonBody("https://example.com/\x00"), 422, "whitespace or a control character"},
		{"Unicode line separator in URL", jsonBody("https://example.com/\u2028"), 422, "whitespace or a control character"},
		{"percent-encoded CR LF", jsonBody("https://example.com/%0d%0aSet-Cookie:%20a=b"), 422, "percent-encoded control character"},
		{"percent-encoded NUL", jsonBody("https://example.com/%00"), 422, "percent-encoded control character"},
		{"percent-encoded C1 control", jsonBody("https://example.com/%C2%85"), 422, "percent-encoded control character"},
		{"percent-encoded Unicode space", jsonBody("https://example.com/%E2%80%A8"), 422, "percent-encoded control character"},
		{"percent-encoded plain space", jsonBody("https://example.com/a%20b"), 201, "https://example.com/a%20b"},
		{"over-long URL", jsonBody("https://example.com/" + strings.Repeat("a", app.MaxURLBytes)), 422, "the limit is 2048 bytes"},
		{"over-long alias", jsonAlias(strings.Repeat("a", app.MaxAliasLen+1)), 422, "alias must be 3 to 64 characters"},
		{"alias with a slash", jsonAlias("a/../b"), 422, "alias may contain only"},
		{"alias with markup", jsonAlias("<script>"), 422, "alias may contain only"},
		{"reserved alias", jsonAlias("api"), 422, `alias "api" is reserved`},
		{"Unicode look-alike host", jsonBody("https://аррӏе.com/login"), 201, "https://xn--80ak6aa92e.com/login"},
		{"full-width host", jsonBody("https://ｅｘａｍｐｌｅ.com/"), 201, "https://example.com/"},
		{"full-width slash in host", jsonBody("https://evil.example／.example.com/"), 422, "not a valid domain name"},
		{"numeric IPv4 in another form", jsonBody("http://2130706433/"), 422, "non-standard form"},
		{"port out of range", jsonBody("http://example.com:99999/"), 422, "not a port number"},
		{"link to the service itself", jsonBody("http://" + self + "/abc"), 422, "points at this shortener"},
		{"link to the service via localhost", jsonBody("http://localhost:" + port + "/abc"), 422, "points at this shortener"},
		{"link to the service with a padded port", jsonBody("http://127.0.0.1:0" + port + "/abc"), 422, "points at this shortener"},
		{"malformed JSON", `{"url": "https://example.com"`, 400, "malformed JSON"},
		{"not JSON", `url=https://example.com`, 400, "malformed JSON"},
		{"empty body", ``, 400, "request body is empty"},
		{"JSON null", `null`, 422, "not null"},
		{"JSON array", `[]`, 422, "must be a JSON object"},
		{"wrong type", `{"url": 42}`, 422, `field "url" must be a string`},
		{"deeply nested JSON", strings.Repeat("[", 12000) + strings.Repeat("]", 12000), 400, "malformed JSON at byte"},
		{"deeply nested value", `{"url":` + strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2001), 422, `field "url" must be a string`},
		{"unknown field", `{"url": "https://example.com", "admin": true}`, 422, "admin"},
		{"two JSON objects", `{"url": "https://example.com"} {"url": "https://example.org"}`, 400, "exactly one JSON object"},
		{"duplicate key, last one hostile", `{"url": "https://example.com", "url": "javascript:alert(1)"}`, 422, `scheme "javascript" is not allowed`},
		{"body over 16 KiB", `{"url": "https://example.com/` + strings.Repeat("a", server.MaxBodyBytes) + `"}`, 413, "larger than"},
	}
	doc := readSecurityDoc(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !docHasRow(doc, tc.name, tc.status) {
				t.Errorf("docs/security.md has no row %q with status %d", tc.name, tc.status)
			}
			status, msg, link := postLink(t, client, ts.URL, strings.NewReader(tc.body))
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, msg)
			}
			if tc.status != http.StatusCreated {
				if !strings.Contains(msg, tc.want) {
					t.Fatalf("message %q does not say %q", msg, tc.want)
				}
				return
			}
			if link.URL != tc.want {
				t.Fatalf("stored url %q, want %q", link.URL, tc.want)
			}
			// What a visitor is sent to is the stored, ASCII form.
			resp, err := client.Get(ts.URL + "/" + link.Code)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tc.want {
				t.Fatalf("redirect %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		})
	}
}

// TestHostileHugeBody sends a 10 MB body: the server stops reading at its
// limit and answers 413 rather than buffering it.
func TestHostileHugeBody(t *testing.T) {
	ts, client := hostileServer(t)
	if !docHasRow(readSecurityDoc(t), "10 MB body", 413) {
		t.Errorf("docs/security.md has no row %q with status 413", "10 MB body")
	}
	body := io.MultiReader(strings.NewReader(`{"url": "https://example.com/`), &repeatReader{b: 'a', n: 10 << 20}, strings.NewReader(`"}`))
	status, msg, _ := postLink(t, client, ts.URL, body)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than") {
		t.Fatalf("10 MB body: %d %q, want 413", status, msg)
	}
}

// TestHostileBlockedHost: with a blocklist, links to a blocked host and its
// subdomains answer 422 with a message that says so.
func TestHostileBlockedHost(t *testing.T) {
	list, err := app.ParseBlocklist(strings.NewReader("blocked.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts, client := hostileServer(t, list)
	if !docHasRow(readSecurityDoc(t), "blocked host", 422) {
		t.Errorf("docs/security.md has no row %q with status 422", "blocked host")
	}
	for _, u := range []string{"https://sub.blocked.example/", "https://BLOCKED.example./x"} {
		status, msg, _ := postLink(t, client, ts.URL, strings.NewReader(jsonBody(u)))
		if status != http.StatusUnprocessableEntity || !strings.Contains(msg, "is blocked on this shortener") {
			t.Fatalf("%s: %d %q, want 422 naming the block", u, status, msg)
		}
	}
	if status, msg, _ := postLink(t, client, ts.URL, strings.NewReader(jsonBody("https://notblocked.example/"))); status != http.StatusCreated {
		t.Fatalf("unblocked host: %d %q", status, msg)
	}
}

// TestHostileWebForm posts hostile values through the HTML form: the page
// answers 422 and shows the value escaped, never as markup.
func TestHostileWebForm(t *testing.T) {
	ts, client := hostileServer(t)
	for _, v := range []string{`javascript:alert(1)`, `"><script>alert(1)</script>`} {
		resp, err := client.PostForm(ts.URL+"/", url.Values{"url": {v}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("form url %q: status %d, want 422", v, resp.StatusCode)
		}
		if bytes.Contains(b, []byte("<script>alert")) {
			t.Fatalf("form url %q is echoed unescaped:\n%s", v, b)
		}
	}
}

type createdLink struct {
	Code  string `json:"code"`
	URL   string `json:"url"`
	Error string `json:"error"`
}

// postLink creates a link and returns the status, the error message (or the
// raw body when it is not JSON) and the decoded link.
func postLink(t *testing.T, client *http.Client, base string, body io.Reader) (int, string, createdLink) {
	t.Helper()
	resp, err := client.Post(base+"/api/v1/links", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var link createdLink
	if err := json.Unmarshal(b, &link); err != nil {
		return resp.StatusCode, string(b), link
	}
	return resp.StatusCode, link.Error, link
}

type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

func readSecurityDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "docs", "security.md"))
	if err != nil {
		t.Fatalf("read docs/security.md: %v", err)
	}
	return string(b)
}

// docHasRow reports whether the markdown table has a row whose first cell is
// name and which names status.
func docHasRow(doc, name string, status int) bool {
	for _, line := range strings.Split(doc, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.TrimSpace(cells[1]) != name {
			continue
		}
		for _, c := range cells[2:] {
			if strings.TrimSpace(c) == strconv.Itoa(status) {
				return true
			}
		}
	}
	return false
}
