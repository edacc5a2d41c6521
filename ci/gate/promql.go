package gate

import (
	"fmt"
	"strings"
	"text/template"
)

// normalizeSelector strips surrounding braces and spaces, so both
// `track="canary"` and `{track="canary"}` are accepted.
func normalizeSelector(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "{")
	s = strings.TrimSuffix(s, "}")
	return strings.TrimSpace(s)
}

// renderQuery substitutes {{.Selector}} (label matchers without braces)
// and {{.ErrorBudget}} in a PromQL template.
func renderQuery(tmpl, selector string, errorBudget float64) (string, error) {
	t, err := template.New("q").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("parse template: %w", err)
	}
	var b strings.Builder
	data := struct {
		Selector    string
		ErrorBudget float64
	}{normalizeSelector(selector), errorBudget}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render template: %w", err)
	}
	return b.String(), nil
}
