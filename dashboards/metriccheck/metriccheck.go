// Package metriccheck finds the metric names a PromQL expression selects and
// checks them against the names the shortener, the release pipeline and the
// recording rules really produce. Dashboards and rules are tested with it, so
// renaming a metric on one side and not the other fails a test instead of
// leaving an empty panel or a silent alert.
//
// It uses a small tokenizer rather than the Prometheus PromQL parser: that
// parser would pull the whole Prometheus server module into go.mod, while
// finding metric names only needs to tell selectors from function names,
// keywords, label matchers, durations and strings. The integration test in
// dashboards/ then sends every expression to a real Prometheus, which is the
// arbiter of syntax.
package metriccheck

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/obsshort/shortener/ci/release/metricnames"
	"github.com/obsshort/shortener/telemetry"
)

// isGroupingKeyword reports keywords followed by a parenthesised list of
// label names. PromQL keywords are case-insensitive; callers pass lower case.
func isGroupingKeyword(w string) bool {
	switch w {
	case "by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// isOtherKeyword reports binary operators and literals spelled as words.
func isOtherKeyword(w string) bool {
	switch w {
	case "and", "or", "unless", "offset", "bool", "inf", "nan", "atan2":
		return true
	}
	return false
}

// isAggregator reports aggregation operators. They may be followed by
// "by (...)" before their parenthesis, so "followed by (" does not identify
// them as it does functions.
func isAggregator(w string) bool {
	switch w {
	case "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio":
		return true
	}
	return false
}

// Extract returns the metric names expr selects, in order of first
// appearance and without duplicates. Names given as {__name__="..."} count
// too. It fails on unterminated strings, braces, brackets or parentheses and
// on Grafana variables ($x) left unsubstituted.
func Extract(expr string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	s := expr
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#': // comment to end of line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, name, err := matchers(s, i)
			if err != nil {
				return nil, err
			}
			if name != "" {
				add(name)
			}
			i = end
		case c == '[': // range or subquery: durations only
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated [ at offset %d", i)
			}
			if strings.Contains(s[i:i+end], "$") {
				return nil, fmt.Errorf("unsubstituted variable at offset %d in %q", i, expr)
			}
			i += end + 1
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ) at offset %d", i)
			}
			i++
		case c == '$':
			return nil, fmt.Errorf("unsubstituted variable at offset %d in %q", i, expr)
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			i = skipNumber(s, i)
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			lower := strings.ToLower(word)
			next := j
			for next < len(s) && (s[next] == ' ' || s[next] == '\t' || s[next] == '\n' || s[next] == '\r') {
				next++
			}
			followedByParen := next < len(s) && s[next] == '('
			switch {
			case isGroupingKeyword(lower):
				if followedByParen {
					end := strings.IndexByte(s[next:], ')')
					if end < 0 {
						return nil, fmt.Errorf("unterminated label list after %s", word)
					}
					j = next + end + 1
				}
			case isOtherKeyword(lower) || isAggregator(lower):
			case followedByParen: // a function call
			default:
				add(word)
			}
			i = j
		default: // operators, commas, @
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	return names, nil
}

// skipString returns the offset after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++ // skip the escaped character
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// matchers skips the label matcher list starting at the { at offset i and
// returns the offset after its }, and the value of a __name__="..." matcher.
func matchers(s string, i int) (int, string, error) {
	var name string
	var lastLabel, lastOp string
	for j := i + 1; j < len(s); {
		c := s[j]
		switch {
		case c == '}':
			return j + 1, name, nil
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, "", err
			}
			if lastLabel == "__name__" && lastOp == "=" {
				name = unquote(s[j:end])
			}
			lastLabel, lastOp = "", ""
			j = end
		case isIdentStart(c):
			k := j
			for k < len(s) && isIdentChar(s[k]) {
				k++
			}
			lastLabel, lastOp = s[j:k], ""
			j = k
		case c == '=' || c == '!' || c == '~':
			lastOp += string(c)
			j++
		default:
			j++
		}
	}
	return 0, "", fmt.Errorf("unterminated { at offset %d", i)
}

func unquote(lit string) string {
	body := lit[1 : len(lit)-1]
	if lit[0] == '`' {
		return body
	}
	return strings.ReplaceAll(body, `\`, "")
}

// skipNumber skips a number or duration: 5, 0.1, 1e-3, 0x1f, 5m, 1h30m.
func skipNumber(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case isIdentChar(c) || c == '.':
			j++
		case (c == '+' || c == '-') && (s[j-1] == 'e' || s[j-1] == 'E') && !strings.HasPrefix(s[i:], "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// Checker knows which metric names exist.
type Checker struct {
	known    map[string]bool
	prefixes []string
}

// New returns a Checker that accepts the shortener's metric families (with
// _bucket, _sum and _count for its histograms), the standard go_* and
// process_* collector metrics, up, the ALERTS series Prometheus writes, the
// release pipeline's pushed metrics, and the given recording-rule names.
func New(recorded []string) *Checker {
	c := &Checker{known: map[string]bool{}, prefixes: []string{"go_", "process_"}}
	for _, n := range telemetry.ExportedMetricNames() {
		c.known[n] = true
		// Only histograms have derived series; in this contract they are
		// the families with a unit suffix (durations).
		if strings.HasSuffix(n, "_seconds") {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				c.known[n+suffix] = true
			}
		}
	}
	for _, n := range metricnames.Names() {
		c.known[n] = true
	}
	for _, n := range []string{"up", "ALERTS", "ALERTS_FOR_STATE"} {
		c.known[n] = true
	}
	for _, n := range recorded {
		c.known[n] = true
	}
	return c
}

// Known reports whether name is a series some component produces.
func (c *Checker) Known(name string) bool {
	if c.known[name] {
		return true
	}
	for _, p := range c.prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ErrUnknownMetric is wrapped by Check when an expression uses a name no
// component exports.
var ErrUnknownMetric = errors.New("unknown metric")

// Check extracts the metric names of expr and fails if it selects none or
// any of them is unknown.
func (c *Checker) Check(expr string) error {
	names, err := Extract(expr)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no metric selected by %q", expr)
	}
	var unknown []string
	for _, n := range names {
		if !c.Known(n) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%w: %s in %q", ErrUnknownMetric, strings.Join(unknown, ", "), expr)
	}
	return nil
}
