package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
)

// HostPolicy decides whether links to a host may be created. host is the
// normalised (lower-case, punycode) host name or IP of a validated URL.
type HostPolicy interface {
	// Blocked returns the rule that blocks host, or ok false.
	Blocked(host string) (rule string, blocked bool)
}

// Blocklist is an immutable set of blocked hosts: an entry blocks the host
// itself and all its subdomains ("example.com" blocks "a.b.example.com").
type Blocklist struct {
	hosts map[string]bool
}

// ParseBlocklist reads one host per line. Blank lines and text after # are
// ignored; "*.example.com" and ".example.com" mean the same as
// "example.com". Unicode names are stored in punycode, like link targets, so
// a look-alike entry blocks the host it looks like on screen.
func ParseBlocklist(r io.Reader) (*Blocklist, error) {
	b := &Blocklist{hosts: map[string]bool{}}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		host, err := normaliseBlockedHost(text)
		if err != nil {
			return nil, fmt.Errorf("blocklist line %d %q: %w", line, text, err)
		}
		b.hosts[host] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read blocklist: %w", err)
	}
	return b, nil
}

func normaliseBlockedHost(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "*"), ".")
	if strings.ContainsAny(s, " \t/@?") {
		return "", fmt.Errorf("want a host name such as example.com, not a URL")
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return ip.String(), nil
	}
	// Reuse the URL rules so that an entry is normalised exactly as the
	// hosts it is compared with.
	norm, err := ValidateURL("http://"+s+"/", nil)
	if err != nil {
		return "", fmt.Errorf("not a valid host name")
	}
	u, err := url.Parse(norm)
	if err != nil || u.Port() != "" {
		return "", fmt.Errorf("not a valid host name (no port, please)")
	}
	return u.Hostname(), nil
}

// Len is the number of entries.
func (b *Blocklist) Len() int {
	if b == nil {
		return 0
	}
	return len(b.hosts)
}

// Blocked implements HostPolicy.
func (b *Blocklist) Blocked(host string) (string, bool) {
	if b == nil || len(b.hosts) == 0 {
		return "", false
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
		return host, b.hosts[host]
	}
	for h := host; h != ""; {
		if b.hosts[h] {
			return h, true
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = rest
	}
	return "", false
}

// checkHost refuses a validated target whose host the policy blocks.
func (s *Service) checkHost(target string) error {
	if s.Hosts == nil {
		return nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("parse validated url: %w", err)
	}
	if rule, blocked := s.Hosts.Blocked(u.Hostname()); blocked {
		return Errorf(EINVALID, "url host %q is blocked on this shortener (rule %q); links to it cannot be created", u.Hostname(), rule)
	}
	return nil
}
