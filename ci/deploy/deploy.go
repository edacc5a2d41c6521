// Package deploy holds the configuration templates of the local production
// stack (Prometheus and HAProxy). They are embedded so the release command
// works from any folder.
package deploy

import "embed"

// Templates holds prometheus.yml.tmpl and haproxy.cfg.tmpl.
//
//go:embed *.tmpl
var Templates embed.FS
