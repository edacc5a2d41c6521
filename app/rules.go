package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on input.
const (
	MaxURLBytes    = 2048
	MinAliasLen    = 3
	MaxAliasLen    = 64
	CodeLength     = 7
	CodeAlphabet   = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ" // no 0 O o 1 l I i
	maxCodeRetries = 8
)

// reservedAliases collide with routes or would confuse people.
var reservedAliases = map[string]bool{
	"api": true, "healthz": true, "readyz": true, "metrics": true, "static": true,
	"debug": true, "admin": true, "favicon.ico": true, "robots.txt": true, "qr": true,
	"links": true, "login": true, "logout": true, "new": true,
}

// idnaProfile converts Unicode host names to punycode so look-alike hosts are
// stored and shown in their unambiguous ASCII form.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// ValidateURL checks a target URL and returns its normalised form (host in
// lower-case punycode). selfHosts are the host[:port] values of the service
// itself; links to them are refused to prevent redirect loops.
func ValidateURL(raw string, selfHosts []string) (string, error) {
	if raw == "" {
		return "", Errorf(EINVALID, "url is required: give an absolute http:// or https:// URL")
	}
	if len(raw) > MaxURLBytes {
		return "", Errorf(EINVALID, "url is %d bytes long; the limit is %d bytes", len(raw), MaxURLBytes)
	}
	if !utf8.ValidString(raw) {
		return "", Errorf(EINVALID, "url is not valid UTF-8")
	}
	for _, r := range raw {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", Errorf(EINVALID, "url contains whitespace or a control character (%U); percent-encode spaces as %%20", r)
		}
	}
	if hasEncodedControl(raw) {
		return "", Errorf(EINVALID, "url contains a percent-encoded control character (such as %%00 or %%0A); remove it")
	}
	if strings.HasPrefix(raw, "//") {
		return "", Errorf(EINVALID, "url %q is protocol-relative; start it with http:// or https://", shorten(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", Errorf(EINVALID, "url cannot be parsed: check its syntax (%s)", parseReason(err))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return "", Errorf(EINVALID, "url %q is not absolute; start it with http:// or https://", shorten(raw))
	}
	if scheme != "http" && scheme != "https" {
		return "", Errorf(EINVALID, "url scheme %q is not allowed; only http and https links can be shortened", scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", Errorf(EINVALID, "url has no host; write it as %s://example.com/...", scheme)
	}
	if u.User != nil {
		return "", Errorf(EINVALID, "url contains a user name or password; remove the credentials before the @")
	}
	host := u.Hostname()
	if host == "" {
		return "", Errorf(EINVALID, "url has no host; write it as %s://example.com/...", scheme)
	}
	asciiHost := host
	if net.ParseIP(strings.Trim(host, "[]")) == nil {
		asciiHost, err = idnaProfile.ToASCII(strings.TrimSuffix(host, "."))
		if err != nil || asciiHost == "" {
			return "", Errorf(EINVALID, "url host %q is not a valid domain name", shorten(host))
		}
		asciiHost = strings.ToLower(asciiHost)
	}
	port := u.Port()
	u.Scheme = scheme
	u.Host = asciiHost
	if strings.Contains(asciiHost, ":") { // IPv6 literal
		u.Host = "[" + asciiHost + "]"
	}
	if port != "" {
		u.Host += ":" + port
	}
	for _, self := range selfHosts {
		if self != "" && strings.EqualFold(u.Host, self) {
			return "", Errorf(EINVALID, "url points at this shortener (%s); link to the final destination instead", self)
		}
	}
	out := u.String()
	if len(out) > MaxURLBytes {
		return "", Errorf(EINVALID, "url is %d bytes long once normalised; the limit is %d bytes", len(out), MaxURLBytes)
	}
	return out, nil
}

// hasEncodedControl reports whether s holds %00-%1F or %7F.
func hasEncodedControl(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		hi, lo := s[i+1], s[i+2]
		if (hi == '0' || hi == '1') && isHex(lo) {
			return true
		}
		if hi == '7' && (lo == 'f' || lo == 'F') {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func parseReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// ValidateAlias checks a user-chosen short code.
func ValidateAlias(alias string) error {
	n := len(alias)
	if n < MinAliasLen || n > MaxAliasLen {
		return Errorf(EINVALID, "alias must be %d to %d characters long, got %d", MinAliasLen, MaxAliasLen, utf8.RuneCountInString(alias))
	}
	for i := 0; i < n; i++ {
		c := alias[i]
		ok := c == '_' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !ok {
			return Errorf(EINVALID, "alias may contain only letters A-Z a-z, digits, _ and -; %q is not allowed", string([]rune(alias[i:])[0]))
		}
	}
	if reservedAliases[strings.ToLower(alias)] {
		return Errorf(EINVALID, "alias %q is reserved; choose another", alias)
	}
	return nil
}

// NewCode returns a random code of CodeLength characters from CodeAlphabet.
func NewCode() (string, error) {
	var buf [CodeLength]byte
	out := make([]byte, CodeLength)
	// Rejection sampling keeps the distribution uniform.
	const limit = 256 - 256%len(CodeAlphabet)
	for i := 0; i < CodeLength; {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out[i] = CodeAlphabet[int(b)%len(CodeAlphabet)]
			i++
			if i == CodeLength {
				break
			}
		}
	}
	return string(out), nil
}

// ValidCodeSyntax reports whether s could be a stored code (generated or
// alias), so garbage paths skip the cache and the store.
func ValidCodeSyntax(s string) bool {
	if len(s) < MinAliasLen || len(s) > MaxAliasLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}
