package stack

import "embed"

// templates holds the configuration templates of the stack's parts
// (prometheus.yml.tmpl, haproxy.cfg.tmpl), embedded so the release command
// works from any folder.
//
//go:embed templates/*.tmpl
var templates embed.FS
