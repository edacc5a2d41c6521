package gate_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/ci/gate"
	"github.com/obsshort/shortener/internal/testenv"
)

// testPKI is a private CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gate test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gate test"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	keyBlock := func(k *ecdsa.PrivateKey) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.caFile = write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.server, err = tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), pem.EncodeToMemory(keyBlock(srvKey)))
	if err != nil {
		t.Fatal(err)
	}
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth, nil)
	p.clientCert = write("client.pem", &pem.Block{Type: "CERTIFICATE", Bytes: cliDER})
	p.clientKey = write("client-key.pem", keyBlock(cliKey))
	return p
}

// mTLSServer is a fake Prometheus that only talks to clients holding a
// certificate of the test CA.
func (p *testPKI) mTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "canary.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A real TLS server with a private CA that demands a client certificate:
// reachable with the CA file and the client certificate (tls_config, or
// the ca_file shorthand beside it), blocked without the certificate, and
// a bad file is a configuration error naming its field.
func TestTLSWithCAAndClientCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	srv := pki.mTLSServer(t, &fakeProm{result: `[]`})
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		yaml  string
		args  []string
		code  int
		inOut string // in stdout (exit 0, 2) or stderr (exit 3)
	}{
		{"tls_config with CA and client certificate", `prometheus:
  tls_config:
    ca_file: ` + pki.caFile + `
    cert_file: ` + pki.clientCert + `
    key_file: ` + pki.clientKey + "\n", nil, 0, "clear to deploy"},
		{"ca_file shorthand beside tls_config", `prometheus:
  ca_file: ` + pki.caFile + `
  tls_config:
    cert_file: ` + pki.clientCert + `
    key_file: ` + pki.clientKey + "\n", nil, 0, "clear to deploy"},
		{"--ca-file flag beside tls_config", `prometheus:
  tls_config:
    cert_file: ` + pki.clientCert + `
    key_file: ` + pki.clientKey + "\n", []string{"--ca-file", pki.caFile}, 0, "clear to deploy"},
		{"no client certificate blocks", "prometheus:\n  ca_file: " + pki.caFile + "\n", nil, gate.ExitInconclusive, "cannot query Prometheus at " + srv.URL},
		{"no CA blocks", "prometheus:\n  tls_config:\n    cert_file: " + pki.clientCert + "\n    key_file: " + pki.clientKey + "\n", nil, gate.ExitInconclusive, "certificate"},
		{"CA file that is no PEM", "prometheus:\n  ca_file: " + notPEM + "\n", nil, gate.ExitUsage, "prometheus.ca_file"},
		{"missing client certificate file", "prometheus:\n  tls_config:\n    cert_file: /nonexistent.pem\n    key_file: " + pki.clientKey + "\n", nil, gate.ExitUsage, "prometheus.tls_config.cert_file"},
		{"key that does not match the certificate", "prometheus:\n  tls_config:\n    cert_file: " + pki.clientCert + "\n    key_file: " + pki.caFile + "\n", nil, gate.ExitUsage, "prometheus.tls_config.cert_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"preflight", "--config", writeConfig(t, c.yaml), "--prometheus", srv.URL, "--retries", "0", "--timeout", "5s"}, c.args...)
			code, out, errOut := run(t, nil, args...)
			where := out
			if c.code == gate.ExitUsage {
				where = errOut
			}
			if code != c.code || !strings.Contains(where, c.inOut) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, c.code, c.inOut, out, errOut)
			}
		})
	}
}

// Credentials reach Prometheus through the config file's fields as well:
// basic auth with the password from a file or the environment, a header
// from a file.
func TestConfigFileCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	passFile := filepath.Join(dir, "pass")
	keyFile := filepath.Join(dir, "key")
	for p, v := range map[string]string{passFile: "file-pa55\n", keyFile: "file-k3y\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       func(http.Header) bool
	}{
		{"basic auth password file", "prometheus:\n  basic_auth:\n    username: gate\n    password_file: " + passFile + "\n", nil, func(h http.Header) bool {
			u, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && u == "gate" && p == "file-pa55"
		}},
		{"basic auth password from env", "prometheus:\n  basic_auth:\n    username: gate\n", map[string]string{gate.EnvPassword: "env-pa55"}, func(h http.Header) bool {
			_, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && p == "env-pa55"
		}},
		{"authorization credentials file", "prometheus:\n  authorization:\n    type: Token\n    credentials_file: " + keyFile + "\n", nil, func(h http.Header) bool {
			return h.Get("Authorization") == "Token file-k3y"
		}},
		{"http_headers from a file and literal headers", "prometheus:\n  headers:\n    X-Scope-OrgID: team-a\n  http_headers:\n    X-Api-Key:\n      files: [" + keyFile + "]\n", nil, func(h http.Header) bool {
			return h.Get("X-Api-Key") == "file-k3y" && h.Get("X-Scope-OrgID") == "team-a"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&fakeProm{result: `[]`, authorize: c.want})
			defer srv.Close()
			code, out, errOut := run(t, c.env, "preflight", "--config", writeConfig(t, c.yaml), "--prometheus", srv.URL, "--retries", "0")
			if code != gate.ExitPass {
				t.Errorf("exit %d, want 0:\n%s%s", code, out, errOut)
			}
			for _, secret := range []string{"pa55", "k3y"} {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("secret %q in the output", secret)
				}
			}
		})
	}
}

// A secret header value on the command line is refused (exit 3) with a
// message saying how to pass it, and the message never repeats the value.
func TestHeaderFlagsRefuseSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"literal Authorization", nil, []string{"--header", "Authorization: Bearer t0ps3cret"}, "--bearer-token-file"},
		{"literal Proxy-Authorization", nil, []string{"--header", "Proxy-Authorization: Basic t0ps3cret"}, "--bearer-token-file"},
		{"literal Cookie", nil, []string{"--header", "Cookie: session=t0ps3cret"}, "--header-file Cookie=PATH"},
		{"literal API key", nil, []string{"--header", "X-Api-Key: t0ps3cret"}, "--header-env X-Api-Key=VAR"},
		{"literal token header", nil, []string{"--header", "X-Auth-Token:t0ps3cret"}, "--header-file"},
		{"Authorization from env", map[string]string{"V": "t0ps3cret"}, []string{"--header-env", "Authorization=V"}, "--bearer-token-file"},
		{"header env variable unset", nil, []string{"--header-env", "X-Api-Key=UNSET_VAR"}, "--header-env"},
		{"header file missing", nil, []string{"--header-file", "X-Api-Key=/nonexistent/t0ps3cret"}, "--header-file"},
		{"malformed header", nil, []string{"--header", "t0ps3cret"}, "--header"},
		{"header the client sets itself", nil, []string{"--header", "Host: t0ps3cret.example"}, "set by the HTTP client itself"},
		{"literal secret in the config file", nil, []string{"--config", writeConfig(t, "prometheus:\n  headers:\n    Authorization: Bearer t0ps3cret\n")}, "prometheus.headers.Authorization"},
		{"inline bearer token in the config file", nil, []string{"--config", writeConfig(t, "prometheus:\n  bearer_token: t0ps3cret\n")}, "bearer_token_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, cmd := range []string{"analyze", "preflight"} {
				args := append([]string{cmd, "--prometheus", "http://127.0.0.1:1"}, c.args...)
				code, out, errOut := run(t, c.env, args...)
				if code != gate.ExitUsage || !strings.Contains(errOut, c.want) {
					t.Errorf("%s: exit %d, want 3 saying %q:\n%s", cmd, code, c.want, errOut)
				}
				if c.name != "header file missing" && strings.Contains(out+errOut, "t0ps3cret") {
					t.Errorf("%s: the message repeats the secret:\n%s", cmd, errOut)
				}
			}
		})
	}
}

// Credentials in the Prometheus and Pushgateway URLs and in headers never
// reach stdout, stderr, the JSON report or the step summary, whether
// Prometheus answers or not (net/http errors quote the URL).
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const (
		promPass   = "pr0m-pa55word"
		pushPass   = "pu5h-pa55word"
		headerEnv  = "h3ader-from-env"
		headerFile = "h3ader-from-file"
	)
	secrets := []string{promPass, pushPass, headerEnv, headerFile}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(headerFile), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := &fakeProm{result: `[]`, authorize: func(h http.Header) bool {
		_, p, ok := (&http.Request{Header: h}).BasicAuth()
		return ok && p == promPass && h.Get("X-Api-Key") == headerEnv && h.Get("X-Session") == headerFile
	}}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close) // not defer: the subtests run after this function returns
	pg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "pushgateway says no to "+r.URL.String(), http.StatusInternalServerError)
	}))
	t.Cleanup(pg.Close)
	withUser := func(u, pass string) string { return strings.Replace(u, "http://", "http://gate:"+pass+"@", 1) }
	cases := []struct {
		name, prom, output string
		code               int
	}{
		{"reachable, json", withUser(srv.URL, promPass), "json", gate.ExitInconclusive},
		{"reachable, text", withUser(srv.URL, promPass), "text", gate.ExitInconclusive},
		{"unreachable, json", withUser("http://127.0.0.1:1", promPass), "json", gate.ExitInconclusive},
		{"unreachable, text", withUser("http://127.0.0.1:1", promPass), "text", gate.ExitInconclusive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			summary := filepath.Join(t.TempDir(), "summary.md")
			env := map[string]string{"GITHUB_STEP_SUMMARY": summary, "API_KEY": headerEnv}
			code, out, errOut := run(t, env, "analyze", "--prometheus", c.prom, "--output", c.output,
				"--interval", "100ms", "--max-duration", "300ms", "--retries", "0", "--max-consecutive-errors", "2",
				"--header-env", "X-Api-Key=API_KEY", "--header-file", "X-Session="+keyFile,
				"--pushgateway", withUser(pg.URL, pushPass))
			if code != c.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, c.code, out, errOut)
			}
			md, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			for where, text := range map[string]string{"stdout": out, "stderr": errOut, "step summary": string(md)} {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s holds the secret %q:\n%s", where, s, text)
					}
				}
			}
			// what was printed still says where it went
			if !strings.Contains(out, "gate:xxxxx@") || !strings.Contains(errOut, "push to http://gate:xxxxx@") {
				t.Errorf("the redacted URLs are missing:\n%s%s", out, errOut)
			}
			for _, flag := range []string{"--prometheus", "--pushgateway"} {
				if !strings.Contains(errOut, "warning: the URL of "+flag+" holds a password") {
					t.Errorf("no warning about the password on the command line in %s:\n%s", flag, errOut)
				}
			}
			if c.output == "json" {
				var r gate.Report
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(r.Prometheus, "http://gate:xxxxx@127.0.0.1:") {
					t.Errorf("report prometheus %q, want the URL with the password redacted", r.Prometheus)
				}
			}
			if strings.HasPrefix(c.name, "reachable") && len(fp.lastHeader()) == 0 {
				t.Errorf("Prometheus was never asked:\n%s%s", out, errOut)
			}
		})
	}
}

// A Pushgateway that accepts the connection and never answers delays the
// exit by at most the push timeout and does not change the verdict.
func TestDeadPushgatewayDoesNotHoldTheVerdict(t *testing.T) {
	t.Parallel()
	dead := testenv.SilentServer(t)
	srv := httptest.NewServer(&fakeProm{result: `[]`})
	defer srv.Close()
	start := time.Now()
	code, out, errOut := run(t, nil, "analyze", "--prometheus", srv.URL, "--interval", "100ms", "--max-duration", "300ms",
		"--pushgateway", "http://"+dead)
	elapsed := time.Since(start)
	if code != gate.ExitInconclusive || !strings.Contains(out, "INCONCLUSIVE") {
		t.Errorf("exit %d, want the verdict (2, inconclusive):\n%s", code, out)
	}
	if !strings.Contains(errOut, "push to http://"+dead+" failed (the decision stands)") {
		t.Errorf("stderr should say the push failed:\n%s", errOut)
	}
	// about 0.5 s of analysis plus the 3 s push timeout; a hang would be
	// the test's one-minute context
	if elapsed > 8*time.Second {
		t.Errorf("took %s with a dead Pushgateway", elapsed)
	}
}

// Requests counted, but no bucket series with the threshold as le (a
// threshold that is no boundary of another histogram): the verdict says
// so, instead of just "no series".
func TestNoBucketSeriesIsSaidSo(t *testing.T) {
	t.Parallel()
	fp := &fakeProm{answer: func(q string) string {
		if strings.Contains(q, "_bucket") {
			return `[]`
		}
		return `[{"metric":{"http_response_status_code":"200"},"value":[1700000000,"10"]}]`
	}}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	code, out, _ := run(t, nil, "analyze", "--prometheus", srv.URL, "--interval", "100ms", "--max-duration", "300ms", "--output", "json")
	var r gate.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if code != gate.ExitInconclusive || !r.Canary.NoBuckets {
		t.Fatalf("exit %d, canary %+v; want 2 with no buckets", code, r.Canary)
	}
	for _, want := range []string{`http_server_request_duration_seconds_bucket series with le="0.1"`, "slo.latency_threshold"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, r.Reason)
		}
	}
}
