package release

import "net/url"

// RedactURL returns raw fit for logs and messages: a password in the
// userinfo is replaced by "xxxxx" (url.URL.Redacted). A string that does not
// parse as a URL is not shown at all, since its credentials could not be
// found to hide them.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}
