package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
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
		if !utf8.ValidString(host) {
			return "", Errorf(EINVALID, "url host is not valid UTF-8 once percent-decoded")
		}
		asciiHost, err = idnaProfile.ToASCII(strings.TrimSuffix(host, "."))
		if err != nil || asciiHost == "" || hasEmptyLabel(asciiHost) {
			return "", Errorf(EINVALID, "url host %q is not a valid domain name", shorten(host))
		}
		asciiHost = strings.ToLower(asciiHost)
		// The punycode form must itself be a valid name, or the stored link
		// would not pass these rules again.
		if again, err := idnaProfile.ToASCII(asciiHost); err != nil || again != asciiHost {
			return "", Errorf(EINVALID, "url host %q is not a valid domain name", shorten(host))
		}
	}
	port := u.Port()
	if port != "" {
		// Browsers read "0080" as 80 and drop a scheme's default port; do the
		// same so the self-link rule and what is stored match what is visited.
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", Errorf(EINVALID, "url port %q is not a port number from 1 to 65535", shorten(port))
		}
		port = strconv.Itoa(n)
		if port == defaultPort[scheme] {
			port = ""
		}
	}
	u.Scheme = scheme
	u.Host = asciiHost
	if strings.Contains(asciiHost, ":") { // IPv6 literal
		u.Host = "[" + asciiHost + "]"
	}
	if port != "" {
		u.Host += ":" + port
	}
	if isNumericHost(asciiHost) && net.ParseIP(asciiHost) == nil {
		// Browsers read "2130706433" or "0x7f.1" as IPv4 addresses; refusing
		// the non-standard forms keeps what users see equal to where they go.
		return "", Errorf(EINVALID, "url host %q is a numeric address in a non-standard form; write IPv4 addresses as four decimal numbers", shorten(asciiHost))
	}
	for _, self := range selfHosts {
		if isSelf(scheme, asciiHost, port, self) {
			return "", Errorf(EINVALID, "url points at this shortener (%s); link to the final destination instead", self)
		}
	}
	out := u.String()
	if len(out) > MaxURLBytes {
		return "", Errorf(EINVALID, "url is %d bytes long once normalised; the limit is %d bytes", len(out), MaxURLBytes)
	}
	return out, nil
}

// hasEncodedControl reports whether s holds a percent-encoded control
// character (C0, DEL or C1) or whitespace other than the plain space %20,
// such as %0A, %C2%85 or %E2%80%A8: header splitting and look-alike tricks.
func hasEncodedControl(s string) bool {
	if !strings.Contains(s, "%") {
		return false
	}
	dec := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			dec = append(dec, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		dec = append(dec, s[i])
	}
	for len(dec) > 0 {
		r, size := utf8.DecodeRune(dec)
		dec = dec[size:]
		if r == utf8.RuneError && size <= 1 {
			continue // arbitrary bytes may be percent-encoded in a query
		}
		if unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') {
			return true
		}
	}
	return false
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// hasEmptyLabel reports whether a domain name has an empty label ("a..b",
// ".a", "a."), which the name lookup would not treat as written.
func hasEmptyLabel(host string) bool {
	return strings.Contains(host, "..") || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".")
}

// isNumericHost reports whether the last label of host is a number (decimal,
// octal or 0x-hex), which the WHATWG URL standard reads as an IPv4 address.
func isNumericHost(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// isSelf reports whether scheme://host:port is the service at self
// (host[:port], as in the base URL or the listen address). Default ports,
// letter case and the loopback names are folded so that
// "http://sho.rt:80/" or "http://localhost:8080/" cannot make a redirect loop.
func isSelf(scheme, host, port, self string) bool {
	if self == "" {
		return false
	}
	selfHost, selfPort, err := net.SplitHostPort(self)
	if err != nil {
		selfHost, selfPort = self, ""
	}
	selfHost = strings.ToLower(strings.TrimSuffix(strings.Trim(selfHost, "[]"), "."))
	host = strings.Trim(host, "[]")
	if !strings.EqualFold(host, selfHost) && !(isLoopback(host) && (isLoopback(selfHost) || isUnspecified(selfHost))) {
		return false
	}
	if port == "" {
		port = defaultPort[scheme]
	}
	if selfPort == "" {
		return port == "80" || port == "443"
	}
	return port == selfPort
}

var defaultPort = map[string]string{"http": "80", "https": "443"}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isUnspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
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
