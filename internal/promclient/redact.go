package promclient

import (
	"net/url"
	"strings"
)

// RedactURL is how every URL that may carry credentials is printed: the
// password of user:password@ becomes "xxxxx" (url.URL.Redacted). Input that
// does not parse as a URL with a host, yet holds an '@', loses everything
// between the scheme and the last '@': a typo must not print a secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		return u.Redacted()
	}
	if err == nil && u.Host != "" && u.Opaque == "" {
		return raw // any '@' is in the path or query, not userinfo
	}
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// RedactIn removes the password of rawURL from a message that may quote
// the URL (an error from a library, say), the way RedactURL prints it.
// net/http already masks it in its own errors; other layers may not.
func RedactIn(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		if red := RedactURL(rawURL); red != rawURL {
			msg = strings.ReplaceAll(msg, rawURL, red)
		}
		return msg
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, rawURL, RedactURL(rawURL))
	msg = strings.ReplaceAll(msg, u.String(), u.Redacted())
	masked := u.User.Username() + ":xxxxx@"
	for _, ui := range []string{u.User.String(), u.User.Username() + ":" + pass} {
		msg = strings.ReplaceAll(msg, ui+"@", masked)
	}
	return msg
}
