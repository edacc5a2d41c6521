package serve

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// Selectors are the templates (text/template) of the label matchers each
// controller's canary and baseline get. Requests carry only names and
// hashes, each checked against what Kubernetes allows, never PromQL: a
// caller cannot make the gate query anything but these shapes.
//
// Fields: .Namespace, .Name (the Rollout or Canary), .CanaryHash and
// .StableHash (Argo's rollouts-pod-template-hash values).
type Selectors struct {
	ArgoCanary, ArgoBaseline       string
	FlaggerCanary, FlaggerBaseline string

	argoCanary, argoBaseline       *template.Template
	flaggerCanary, flaggerBaseline *template.Template
}

// DefaultSelectors fit the PodMonitor in deploy/kubernetes: Argo's pods are
// told apart by the rollouts_pod_template_hash label, Flagger's by track
// (canary for <name>, stable for <name>-primary), and job is the app name.
func DefaultSelectors() Selectors {
	return Selectors{
		ArgoCanary:      `namespace="{{.Namespace}}", rollouts_pod_template_hash="{{.CanaryHash}}"`,
		ArgoBaseline:    `namespace="{{.Namespace}}", rollouts_pod_template_hash="{{.StableHash}}"`,
		FlaggerCanary:   `namespace="{{.Namespace}}", job="{{.Name}}", track="canary"`,
		FlaggerBaseline: `namespace="{{.Namespace}}", job="{{.Name}}", track="stable"`,
	}
}

// selectorData is what a template may use.
type selectorData struct {
	Namespace, Name, CanaryHash, StableHash string
}

func (s *Selectors) parse() error {
	for _, t := range []struct {
		flag string
		text string
		dst  **template.Template
	}{
		{"--argo-canary", s.ArgoCanary, &s.argoCanary},
		{"--argo-baseline", s.ArgoBaseline, &s.argoBaseline},
		{"--flagger-canary", s.FlaggerCanary, &s.flaggerCanary},
		{"--flagger-baseline", s.FlaggerBaseline, &s.flaggerBaseline},
	} {
		if strings.TrimSpace(t.text) == "" {
			return fmt.Errorf("%s: empty; want label matchers such as namespace=\"{{.Namespace}}\"", t.flag)
		}
		tpl, err := template.New(t.flag).Option("missingkey=error").Parse(t.text)
		if err != nil {
			return fmt.Errorf("%s: %v", t.flag, err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, selectorData{"ns", "name", "canaryhash", "stablehash"}); err != nil {
			return fmt.Errorf("%s: %v (fields: .Namespace .Name .CanaryHash .StableHash)", t.flag, err)
		}
		if strings.ContainsAny(b.String(), "{}") {
			return fmt.Errorf("%s %q: label matchers only, without braces", t.flag, t.text)
		}
		*t.dst = tpl
	}
	return nil
}

func render(t *template.Template, d selectorData) string {
	var b strings.Builder
	// Cannot fail: parse executed it with the same field set.
	_ = t.Execute(&b, d)
	return b.String()
}

func (s *Selectors) argo(r argoRequest) Spec {
	d := selectorData{Namespace: r.Namespace, Name: r.Rollout, CanaryHash: r.CanaryHash, StableHash: r.StableHash}
	return Spec{Canary: render(s.argoCanary, d), Baseline: render(s.argoBaseline, d)}
}

func (s *Selectors) flagger(r flaggerRequest) Spec {
	d := selectorData{Namespace: r.Namespace, Name: r.Name}
	return Spec{Canary: render(s.flaggerCanary, d), Baseline: render(s.flaggerBaseline, d)}
}

// Names as Kubernetes allows them (DNS-1123 subdomain; namespaces are
// labels, a subset), hashes as Argo and Flagger write them.
var (
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hashValue    = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
)

func checkNamespace(field, v string) error {
	if len(v) > 63 || !dnsLabel.MatchString(v) {
		return fmt.Errorf("%s %q: want a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)", field, v)
	}
	return nil
}

func checkName(field, v string) error {
	if len(v) > 253 || !dnsSubdomain.MatchString(v) {
		return fmt.Errorf("%s %q: want a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253)", field, v)
	}
	return nil
}

func checkHash(field, v string) error {
	if len(v) > 64 || !hashValue.MatchString(v) {
		return fmt.Errorf("%s %q: want the hash the controller wrote (letters and digits, at most 64)", field, v)
	}
	return nil
}
