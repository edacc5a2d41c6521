package gate

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"

	"github.com/obsshort/shortener/internal/promclient"
	"github.com/prometheus/common/config"
)

// Environment variables holding Prometheus secrets: secrets never travel in
// argv (visible in ps and CI logs) or in the YAML.
const (
	EnvToken    = "GATE_PROMETHEUS_TOKEN"
	EnvPassword = "GATE_PROMETHEUS_PASSWORD"
)

// newPromClient builds the one Prometheus client of a gate run from the
// configuration and the environment. Its errors name the field at fault.
func newPromClient(p PrometheusConfig, getenv func(string) string) (*promclient.Client, error) {
	h, err := p.httpConfig(getenv)
	if err != nil {
		return nil, err
	}
	c, err := promclient.New(p.URL, promclient.Options{HTTP: &h, Timeout: p.Timeout.D(), Retries: p.Retries})
	if err != nil {
		return nil, fieldErr("prometheus", "%v", err)
	}
	return c, nil
}

// httpConfig merges the gate's shorthands (ca_file, headers, the header
// flags) and the secrets from the environment into a copy of the
// HTTPClientConfig, checks that every file it names can be used, and
// validates the result. Files are read again on each request by
// prometheus/common/config, so a rotated token is picked up without a
// restart; the check here only makes a wrong path a configuration error
// (exit 3) instead of a run of failed polls.
func (p PrometheusConfig) httpConfig(getenv func(string) string) (config.HTTPClientConfig, error) {
	h := cloneHTTPConfig(p.HTTP)
	if p.CAFile != "" {
		if h.TLSConfig.CAFile != "" && h.TLSConfig.CAFile != p.CAFile {
			return h, fieldErr("prometheus.ca_file", "prometheus.tls_config.ca_file is set too; keep one")
		}
		h.TLSConfig.CAFile = p.CAFile
	}
	addHeader := func(name string, add func(*config.Header)) {
		if h.HTTPHeaders == nil {
			h.HTTPHeaders = &config.Headers{Headers: map[string]config.Header{}}
		}
		if h.HTTPHeaders.Headers == nil {
			h.HTTPHeaders.Headers = map[string]config.Header{}
		}
		hd := h.HTTPHeaders.Headers[name]
		add(&hd)
		h.HTTPHeaders.Headers[name] = hd
	}
	for name, v := range p.Headers {
		addHeader(name, func(hd *config.Header) { hd.Values = append(hd.Values, v) })
	}
	for name, path := range p.HeaderFiles {
		if err := readable(path); err != nil {
			return h, fieldErr("--header-file", "%s: %v", name, err)
		}
		addHeader(name, func(hd *config.Header) { hd.Files = append(hd.Files, path) })
	}
	for name, env := range p.HeaderEnv {
		v := getenv(env)
		if v == "" {
			return h, fieldErr("--header-env", "%s: environment variable %s is not set", name, env)
		}
		addHeader(name, func(hd *config.Header) { hd.Secrets = append(hd.Secrets, config.Secret(v)) })
	}

	// A bearer token from the environment counts as configured only when
	// the file does not name one: the file wins, as it always did.
	if tok := strings.TrimSpace(getenv(EnvToken)); tok != "" && h.BearerTokenFile == "" && h.Authorization == nil {
		if h.BasicAuth != nil || h.OAuth2 != nil {
			return h, fieldErr("prometheus.basic_auth", "both a bearer token (%s) and basic auth or oauth2 are configured; pick one", EnvToken)
		}
		h.Authorization = &config.Authorization{Type: "Bearer", Credentials: config.Secret(tok)}
	}
	if ba := h.BasicAuth; ba != nil && ba.PasswordFile == "" && ba.Password == "" {
		pass := getenv(EnvPassword)
		if pass == "" {
			return h, fieldErr("prometheus.basic_auth.password_file", "no password: give a file or set %s", EnvPassword)
		}
		ba.Password = config.Secret(pass)
	}
	if (h.BearerTokenFile != "" || h.Authorization != nil) && h.BasicAuth != nil {
		return h, fieldErr("prometheus.basic_auth", "both a bearer token and basic auth are configured; pick one")
	}
	if err := checkFiles(h, p.CAFile != ""); err != nil {
		return h, err
	}
	if err := h.Validate(); err != nil {
		return h, fieldErr("prometheus", "%v", err)
	}
	return h, nil
}

// cloneHTTPConfig copies the parts httpConfig changes, so the Config the
// report prints keeps no secret from the environment.
func cloneHTTPConfig(c config.HTTPClientConfig) config.HTTPClientConfig {
	if c.BasicAuth != nil {
		ba := *c.BasicAuth
		c.BasicAuth = &ba
	}
	if c.Authorization != nil {
		a := *c.Authorization
		c.Authorization = &a
	}
	if c.HTTPHeaders != nil {
		hs := &config.Headers{Headers: make(map[string]config.Header, len(c.HTTPHeaders.Headers))}
		for k, v := range c.HTTPHeaders.Headers {
			hs.Headers[k] = config.Header{
				Values:  append([]string(nil), v.Values...),
				Secrets: append([]config.Secret(nil), v.Secrets...),
				Files:   append([]string(nil), v.Files...),
			}
		}
		c.HTTPHeaders = hs
	}
	return c
}

// checkFiles makes every file the HTTP configuration names readable, and
// the certificates usable, naming the field that points at a bad one.
func checkFiles(h config.HTTPClientConfig, caShorthand bool) error {
	type file struct{ field, path string }
	files := []file{{"prometheus.bearer_token_file", h.BearerTokenFile}}
	if a := h.Authorization; a != nil {
		files = append(files, file{"prometheus.authorization.credentials_file", a.CredentialsFile})
	}
	if ba := h.BasicAuth; ba != nil {
		files = append(files, file{"prometheus.basic_auth.username_file", ba.UsernameFile}, file{"prometheus.basic_auth.password_file", ba.PasswordFile})
	}
	if o := h.OAuth2; o != nil {
		files = append(files, file{"prometheus.oauth2.client_secret_file", o.ClientSecretFile}, file{"prometheus.oauth2.client_certificate_key_file", o.ClientCertificateKeyFile})
	}
	if h.HTTPHeaders != nil {
		for name, hd := range h.HTTPHeaders.Headers {
			for _, f := range hd.Files {
				files = append(files, file{"prometheus.http_headers." + name + ".files", f})
			}
		}
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			return fieldErr(f.field, "%v", err)
		}
	}
	caField := "prometheus.tls_config.ca_file"
	if caShorthand {
		caField = "prometheus.ca_file"
	}
	if err := checkTLSFiles(h.TLSConfig, caField, "prometheus.tls_config"); err != nil {
		return err
	}
	if h.OAuth2 != nil {
		return checkTLSFiles(h.OAuth2.TLSConfig, "prometheus.oauth2.tls_config.ca_file", "prometheus.oauth2.tls_config")
	}
	return nil
}

func checkTLSFiles(t config.TLSConfig, caField, prefix string) error {
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return fieldErr(caField, "%v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fieldErr(caField, "no PEM certificate in %s", t.CAFile)
		}
	}
	for _, f := range []struct{ field, path string }{{prefix + ".cert_file", t.CertFile}, {prefix + ".key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			return fieldErr(f.field, "%v", err)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return fieldErr(prefix+".cert_file", "with %s.key_file: %v", prefix, err)
		}
	}
	return nil
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// refuseInlineSecrets rejects the fields of HTTPClientConfig that would
// put a secret in the YAML, saying which file-based field to use instead,
// and the *_ref fields, which need a secret manager the gate does not have.
func (p PrometheusConfig) refuseInlineSecrets() error {
	h := p.HTTP
	type rule struct {
		set            bool
		field, instead string
	}
	rules := []rule{
		{h.BearerToken != "", "prometheus.bearer_token", "bearer_token_file or " + EnvToken},
		{h.TLSConfig.Key != "", "prometheus.tls_config.key", "tls_config.key_file"},
		{h.TLSConfig.CARef != "" || h.TLSConfig.CertRef != "" || h.TLSConfig.KeyRef != "", "prometheus.tls_config", "ca_file, cert_file and key_file (no *_ref: the gate has no secret manager)"},
	}
	if ba := h.BasicAuth; ba != nil {
		rules = append(rules,
			rule{ba.Password != "", "prometheus.basic_auth.password", "basic_auth.password_file or " + EnvPassword},
			rule{ba.PasswordRef != "" || ba.UsernameRef != "", "prometheus.basic_auth", "password_file and username or username_file (no *_ref: the gate has no secret manager)"})
	}
	if a := h.Authorization; a != nil {
		rules = append(rules,
			rule{a.Credentials != "", "prometheus.authorization.credentials", "authorization.credentials_file"},
			rule{a.CredentialsRef != "", "prometheus.authorization.credentials_ref", "authorization.credentials_file"})
	}
	if o := h.OAuth2; o != nil {
		rules = append(rules,
			rule{o.ClientSecret != "", "prometheus.oauth2.client_secret", "oauth2.client_secret_file"},
			rule{o.ClientCertificateKey != "", "prometheus.oauth2.client_certificate_key", "oauth2.client_certificate_key_file"},
			rule{o.ClientSecretRef != "" || o.ClientCertificateKeyRef != "", "prometheus.oauth2", "client_secret_file or client_certificate_key_file (no *_ref: the gate has no secret manager)"},
			rule{o.TLSConfig.Key != "", "prometheus.oauth2.tls_config.key", "oauth2.tls_config.key_file"})
	}
	if h.HTTPHeaders != nil {
		for name, hd := range h.HTTPHeaders.Headers {
			rules = append(rules, rule{len(hd.Secrets) > 0, "prometheus.http_headers." + name + ".secrets", "http_headers." + name + ".files, or --header-env " + name + "=VAR"})
			for _, v := range hd.Values {
				rules = append(rules, rule{v != "" && credentialHeader(name), "prometheus.http_headers." + name + ".values", "http_headers." + name + ".files, or --header-env " + name + "=VAR"})
			}
		}
	}
	for name, v := range p.Headers {
		rules = append(rules, rule{v != "" && credentialHeader(name), "prometheus.headers." + name, "http_headers." + name + ".files, --header-file " + name + "=PATH or --header-env " + name + "=VAR"})
	}
	for _, r := range rules {
		if r.set {
			return fieldErr(r.field, "secrets are not accepted in the config file; use %s", r.instead)
		}
	}
	return nil
}

// credentialHeader says whether a header carries credentials, so that its
// value must come from a file or the environment and never from argv or
// the YAML. The match is deliberately broad.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "cookie", "token", "key", "secret", "passw", "session", "credential", "signature", "jwt"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// reservedHeader is a header the HTTP client sets itself (and
// prometheus/common/config refuses in http_headers).
func reservedHeader(name string) bool {
	_, reserved := config.ReservedHeaders[http.CanonicalHeaderKey(name)]
	return reserved
}

// parseHeaderFlags turns the three header flags into the configuration:
// --header "Name: value" (a literal, refused for credential-bearing
// headers), --header-file Name=PATH and --header-env Name=VAR. Errors
// never repeat a value.
func (p *PrometheusConfig) parseHeaderFlags(literal, files, envs []string) error {
	name := func(flag, n string) (string, error) {
		n = strings.TrimSpace(n)
		if n == "" || strings.ContainsAny(n, " :=\r\n") {
			return "", fieldErr(flag, "bad header name %q", n)
		}
		switch c := http.CanonicalHeaderKey(n); {
		case c == "Authorization" || c == "Proxy-Authorization":
			return "", fieldErr(flag, "%s cannot be set as a header: for credentials use --bearer-token-file, %s, --basic-auth-user with --basic-auth-password-file or %s, or prometheus.authorization.credentials_file in the config", c, EnvToken, EnvPassword)
		case reservedHeader(c):
			return "", fieldErr(flag, "%s is set by the HTTP client itself and cannot be given", c)
		}
		return n, nil
	}
	for _, h := range literal {
		n, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(n) == "" {
			return fieldErr("--header", "want \"Name: value\" (the value is not shown here)")
		}
		n, err := name("--header", n)
		if err != nil {
			return err
		}
		if credentialHeader(n) {
			return fieldErr("--header", "%s carries credentials and must not be given on the command line, where ps and CI logs show it: use --header-file %s=PATH or --header-env %s=VAR", n, n, n)
		}
		if p.Headers == nil {
			p.Headers = map[string]string{}
		}
		p.Headers[n] = strings.TrimSpace(v)
	}
	for _, pair := range []struct {
		flag string
		vals []string
		dst  *map[string]string
	}{{"--header-file", files, &p.HeaderFiles}, {"--header-env", envs, &p.HeaderEnv}} {
		for _, h := range pair.vals {
			n, v, ok := strings.Cut(h, "=")
			if !ok || strings.TrimSpace(v) == "" {
				return fieldErr(pair.flag, "want Name=%s, got %q", map[string]string{"--header-file": "PATH", "--header-env": "VAR"}[pair.flag], h)
			}
			n, err := name(pair.flag, n)
			if err != nil {
				return err
			}
			if *pair.dst == nil {
				*pair.dst = map[string]string{}
			}
			(*pair.dst)[n] = strings.TrimSpace(v)
		}
	}
	return nil
}
