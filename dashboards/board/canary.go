package board

// Canary is canary.json: Shortener / Canary vs stable.
func Canary() Board {
	return Board{
		File:        "canary.json",
		UID:         "shortener-canary",
		Title:       "Shortener / Canary vs stable",
		Description: "The same signals per release track and version, side by side: what the canary gate compares.",
		Tags:        []string{"shortener", "canary"},
		Rows: []Row{
			{Title: "Releases", Y: 0, Panels: []Panel{
				{
					Kind:        Table,
					Title:       "Live versions",
					Description: "Instances by track and version (target labels set by the deploy step).",
					Pos:         Pos{X: 0, Y: 1, W: 12, H: 6},
					Unit:        "short",
					Hide:        []string{"Time", "Value"},
					Queries: []Query{
						{Expr: `count by (job, track, version, instance) (shortener_build_info{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto", Instant: true, Format: "table"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Traffic share by track",
					Description: "Share of public requests each track receives (HAProxy weights).",
					Pos:         Pos{X: 12, Y: 1, W: 12, H: 6},
					Unit:        "percentunit",
					Min:         F(0),
					Max:         F(1),
					Queries: []Query{
						{Expr: `sum by (track) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])) / ignoring (track) group_left () sum(rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{track}}"},
					},
				},
			}},
			{Title: "Side by side", Y: 7, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "Request rate",
					Description: "Public requests per second.",
					Pos:         Pos{X: 0, Y: 8, W: 12, H: 8},
					Unit:        "reqps",
					Queries: []Query{
						{Expr: `sum by (track, version) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{track}} {{version}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "5xx ratio",
					Description: "Share of public requests answered 5xx (probes and unmatched paths excluded, as in the SLO).",
					Pos:         Pos{X: 12, Y: 8, W: 12, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Queries: []Query{
						{Expr: `(sum by (track, version) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_route!~"unmatched|/healthz|/readyz", http_response_status_code=~"5.."}[$__rate_interval])) or 0 * sum by (track, version) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_route!~"unmatched|/healthz|/readyz"}[$__rate_interval]))) / sum by (track, version) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_route!~"unmatched|/healthz|/readyz"}[$__rate_interval]))`, Legend: "{{track}} {{version}}"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Redirect latency p50 and p99",
					Description:    "Duration of GET /{code}.",
					Pos:            Pos{X: 0, Y: 16, W: 12, H: 8},
					Unit:           "s",
					Thresholds:     []Step{{Color: "transparent"}, {Color: "red", Value: 0.1}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `histogram_quantile(0.5, sum by (le, track, version) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track", http_route="/{code}"}[$__rate_interval])))`, Legend: "p50 {{track}} {{version}}"},
						{Expr: `histogram_quantile(0.99, sum by (le, track, version) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track", http_route="/{code}"}[$__rate_interval])))`, Legend: "p99 {{track}} {{version}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Redirects slower than 100 ms",
					Description: "Share of redirects over the latency SLO threshold.",
					Pos:         Pos{X: 12, Y: 16, W: 12, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Queries: []Query{
						{Expr: `1 - sum by (track, version) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track", http_route="/{code}", le="0.1"}[$__rate_interval])) / sum by (track, version) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_route="/{code}"}[$__rate_interval]))`, Legend: "{{track}} {{version}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Responses by status code",
					Description: "Responses per second by track and status.",
					Pos:         Pos{X: 0, Y: 24, W: 12, H: 8},
					Unit:        "reqps",
					Queries: []Query{
						{Expr: `sum by (track, http_response_status_code) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{track}} {{http_response_status_code}}"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Availability burn rate (5m)",
					Description:    "5-minute bad-request ratio / budget per track: the fast-burn page fires above 14.4 when the 1h window agrees.",
					Pos:            Pos{X: 12, Y: 24, W: 12, H: 8},
					Unit:           "x",
					Min:            F(0),
					Thresholds:     []Step{{Color: "transparent"}, {Color: "red", Value: 14.4}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `job:slo_availability_errors:ratio_rate5m{job=~"$job", track=~"$track"} / 0.001`, Legend: "{{job}} {{track}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Redirect outcomes",
					Description: "Redirect lookups per second by result.",
					Pos:         Pos{X: 0, Y: 32, W: 12, H: 8},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `sum by (track, result) (rate(shortener_redirects_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{track}} {{result}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Active requests and fault injection",
					Description: "Requests in flight per track; fault injection (1 = on) per instance.",
					Pos:         Pos{X: 12, Y: 32, W: 12, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum by (track) (http_server_active_requests{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "active {{track}}"},
						{Expr: `max by (track, instance) (shortener_fault_injection_enabled{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "fault injection {{track}} {{instance}}"},
					},
				},
			}},
		},
	}
}
