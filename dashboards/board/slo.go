package board

// SLO is slo.json: Shortener / SLOs and error budget.
func SLO() Board {
	return Board{
		File:        "slo.json",
		UID:         "shortener-slo",
		Title:       "Shortener / SLOs and error budget",
		Description: "Availability (99.9% of public requests without 5xx) and latency (99% of redirects within 100 ms) over 30 days; burn rates for each alert window. See alerts/README.md.",
		Tags:        []string{"shortener", "slo"},
		Rows: []Row{
			{Title: "Availability: 99.9% of public requests without 5xx over 30 days", Y: 0, Panels: []Panel{
				{
					Kind:        Stat,
					Title:       "Availability SLI, 30 days",
					Description: "Share of public requests (without probes and unmatched paths) answered without 5xx.",
					Pos:         Pos{X: 0, Y: 1, W: 6, H: 4},
					Unit:        "percentunit",
					Decimals:    F(3),
					Thresholds:  []Step{{Color: "red"}, {Color: "green", Value: 0.999}},
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz", http_response_status_code=~"5.."}[30d])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz"}[30d])))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Budget remaining, 30 days",
					Description: "Share of the 30-day error budget (0.1% of requests) not yet spent. Negative: the SLO is broken.",
					Pos:         Pos{X: 6, Y: 1, W: 6, H: 4},
					Unit:        "percentunit",
					Decimals:    F(1),
					Thresholds:  []Step{{Color: "red"}, {Color: "orange", Value: 0}, {Color: "green", Value: 0.25}},
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz", http_response_status_code=~"5.."}[30d])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz"}[30d]))) / 0.001`, Legend: "__auto"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Availability budget remaining",
					Description: "Error budget left, computed over the 30 days before each point.",
					Pos:         Pos{X: 12, Y: 1, W: 12, H: 4},
					Unit:        "percentunit",
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz", http_response_status_code=~"5.."}[30d])) or vector(0)) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route!~"unmatched|/healthz|/readyz"}[30d]))) / 0.001`, Legend: "budget remaining"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Availability SLI (5m)",
					Description:    "Share of good requests over 5 minutes, per track (recording rule).",
					Pos:            Pos{X: 0, Y: 5, W: 12, H: 8},
					Unit:           "percentunit",
					Max:            F(1),
					Thresholds:     []Step{{Color: "transparent"}, {Color: "red", Value: 0.999}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `1 - max by (track) (job:slo_availability_errors:ratio_rate5m{job=~"$job", track=~"$track"})`, Legend: "{{track}}"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Availability burn rate",
					Description:    "Bad-request ratio / budget, for each alert window. Lines: page at 14.4 (1h and 5m) and 6 (6h and 30m), ticket at 3 (1d and 2h) and 1 (3d and 6h).",
					Pos:            Pos{X: 12, Y: 5, W: 12, H: 8},
					Unit:           "x",
					Min:            F(0),
					Thresholds:     []Step{{Color: "transparent"}, {Color: "yellow", Value: 1}, {Color: "orange", Value: 3}, {Color: "red", Value: 6}, {Color: "dark-red", Value: 14.4}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate5m{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 5m"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate30m{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 30m"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate1h{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 1h"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate2h{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 2h"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate6h{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 6h"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate1d{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 1d"},
						{Expr: `max by (track) (job:slo_availability_errors:ratio_rate3d{job=~"$job", track=~"$track"}) / 0.001`, Legend: "{{track}} 3d"},
					},
				},
			}},
			{Title: "Latency: 99% of redirects within 100 ms over 30 days", Y: 13, Panels: []Panel{
				{
					Kind:        Stat,
					Title:       "Latency SLI, 30 days",
					Description: "Share of redirects (GET /{code}) answered within 100 ms.",
					Pos:         Pos{X: 0, Y: 14, W: 6, H: 4},
					Unit:        "percentunit",
					Decimals:    F(2),
					Thresholds:  []Step{{Color: "red"}, {Color: "green", Value: 0.99}},
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d])) - sum(rate(http_server_request_duration_seconds_bucket{job=~"$job", track=~"$track", http_route="/{code}", le="0.1"}[30d]))) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d])))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Budget remaining, 30 days",
					Description: "Share of the 30-day budget (1% of redirects may be slower) not yet spent.",
					Pos:         Pos{X: 6, Y: 14, W: 6, H: 4},
					Unit:        "percentunit",
					Decimals:    F(1),
					Thresholds:  []Step{{Color: "red"}, {Color: "orange", Value: 0}, {Color: "green", Value: 0.25}},
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d])) - sum(rate(http_server_request_duration_seconds_bucket{job=~"$job", track=~"$track", http_route="/{code}", le="0.1"}[30d]))) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d]))) / 0.01`, Legend: "__auto"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Latency budget remaining",
					Description: "Error budget left, computed over the 30 days before each point.",
					Pos:         Pos{X: 12, Y: 14, W: 12, H: 4},
					Unit:        "percentunit",
					Queries: []Query{
						{Expr: `1 - ((sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d])) - sum(rate(http_server_request_duration_seconds_bucket{job=~"$job", track=~"$track", http_route="/{code}", le="0.1"}[30d]))) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", track=~"$track", http_route="/{code}"}[30d]))) / 0.01`, Legend: "budget remaining"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Latency SLI (5m)",
					Description:    "Share of redirects within 100 ms over 5 minutes, per track (recording rule).",
					Pos:            Pos{X: 0, Y: 18, W: 12, H: 8},
					Unit:           "percentunit",
					Max:            F(1),
					Thresholds:     []Step{{Color: "transparent"}, {Color: "red", Value: 0.99}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `1 - max by (track) (job:slo_latency_errors:ratio_rate5m{job=~"$job", track=~"$track"})`, Legend: "{{track}}"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Latency burn rate",
					Description:    "Slow-redirect ratio / budget, for each alert window (same thresholds as availability).",
					Pos:            Pos{X: 12, Y: 18, W: 12, H: 8},
					Unit:           "x",
					Min:            F(0),
					Thresholds:     []Step{{Color: "transparent"}, {Color: "yellow", Value: 1}, {Color: "orange", Value: 3}, {Color: "red", Value: 6}, {Color: "dark-red", Value: 14.4}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate5m{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 5m"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate30m{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 30m"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate1h{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 1h"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate2h{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 2h"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate6h{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 6h"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate1d{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 1d"},
						{Expr: `max by (track) (job:slo_latency_errors:ratio_rate3d{job=~"$job", track=~"$track"}) / 0.01`, Legend: "{{track}} 3d"},
					},
				},
			}},
			{Title: "Alerts", Y: 26, Panels: []Panel{
				{
					Kind:        Table,
					Title:       "Active alerts",
					Description: "Pending and firing alerts of the selected jobs (the ALERTS series Prometheus writes).",
					Pos:         Pos{X: 0, Y: 27, W: 24, H: 7},
					Unit:        "short",
					Hide:        []string{"Time", "Value", "__name__"},
					Queries: []Query{
						{Expr: `ALERTS{job=~"$job"}`, Legend: "__auto", Instant: true, Format: "table"},
					},
				},
			}},
		},
	}
}
