package board

// Overview is overview.json: Shortener / Service overview.
func Overview() Board {
	return Board{
		File:        "overview.json",
		UID:         "shortener-overview",
		Title:       "Shortener / Service overview",
		Description: "Traffic, errors, latency and business events of the shortener. Blue marks are deploys (a new shortener_build_info series).",
		Tags:        []string{"shortener", "overview"},
		Rows: []Row{
			{Title: "Golden signals", Y: 0, Panels: []Panel{
				{
					Kind:        Stat,
					Title:       "Request rate",
					Description: "Public requests per second.",
					Pos:         Pos{X: 0, Y: 1, W: 4, H: 4},
					Unit:        "reqps",
					Queries: []Query{
						{Expr: `sum(rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "5xx ratio",
					Description: "Share of public requests answered with a 5xx.",
					Pos:         Pos{X: 4, Y: 1, W: 4, H: 4},
					Unit:        "percentunit",
					Decimals:    F(2),
					Thresholds:  []Step{{Color: "green"}, {Color: "orange", Value: 0.001}, {Color: "red", Value: 0.01}},
					Queries: []Query{
						{Expr: `sum(rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_response_status_code=~"5.."}[$__rate_interval])) / sum(rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Redirect p99",
					Description: "99th percentile duration of GET /{code}.",
					Pos:         Pos{X: 8, Y: 1, W: 4, H: 4},
					Unit:        "s",
					Thresholds:  []Step{{Color: "green"}, {Color: "red", Value: 0.1}},
					Queries: []Query{
						{Expr: `histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track", http_route="/{code}"}[$__rate_interval])))`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Active requests",
					Description: "Requests in flight now.",
					Pos:         Pos{X: 12, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum(http_server_active_requests{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Fault injection",
					Description: "Instances with fault injection on (must be 0 in production).",
					Pos:         Pos{X: 16, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Thresholds:  []Step{{Color: "green"}, {Color: "red", Value: 1}},
					Queries: []Query{
						{Expr: `sum(shortener_fault_injection_enabled{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Instances up",
					Description: "Scraped instances that answer.",
					Pos:         Pos{X: 20, Y: 1, W: 4, H: 4},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum(up{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Request rate by route",
					Description: "Public requests per second by chi route pattern.",
					Pos:         Pos{X: 0, Y: 5, W: 12, H: 8},
					Unit:        "reqps",
					Stacked:     true,
					Queries: []Query{
						{Expr: `sum by (http_route) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{http_route}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "5xx ratio by route",
					Description: "Share of each route's requests answered 5xx.",
					Pos:         Pos{X: 12, Y: 5, W: 12, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Queries: []Query{
						{Expr: `sum by (http_route) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track", http_response_status_code=~"5.."}[$__rate_interval])) / sum by (http_route) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{http_route}}"},
					},
				},
				{
					Kind:           TimeSeries,
					Title:          "Latency by route (p50, p90, p99)",
					Description:    "Quantiles estimated from the duration histogram.",
					Pos:            Pos{X: 0, Y: 13, W: 12, H: 8},
					Unit:           "s",
					Thresholds:     []Step{{Color: "transparent"}, {Color: "red", Value: 0.1}},
					ThresholdLines: true,
					Queries: []Query{
						{Expr: `histogram_quantile(0.5, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])))`, Legend: "p50 {{http_route}}"},
						{Expr: `histogram_quantile(0.9, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])))`, Legend: "p90 {{http_route}}"},
						{Expr: `histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])))`, Legend: "p99 {{http_route}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Responses by status code",
					Description: "Public responses per second by HTTP status code.",
					Pos:         Pos{X: 12, Y: 13, W: 12, H: 8},
					Unit:        "reqps",
					Stacked:     true,
					Queries: []Query{
						{Expr: `sum by (http_response_status_code) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{http_response_status_code}}"},
					},
				},
				{
					Kind:        Heatmap,
					Title:       "Request duration heatmap",
					Description: "All public requests, by histogram bucket.",
					Pos:         Pos{X: 0, Y: 21, W: 24, H: 9},
					Unit:        "s",
					Queries: []Query{
						{Expr: `sum by (le) (increase(http_server_request_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{le}}", Format: "heatmap"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Active requests",
					Description: "Requests in flight, by instance.",
					Pos:         Pos{X: 0, Y: 30, W: 12, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `sum by (instance) (http_server_active_requests{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Request rate by instance",
					Description: "Public requests per second, by instance and track.",
					Pos:         Pos{X: 12, Y: 30, W: 12, H: 8},
					Unit:        "reqps",
					Queries: []Query{
						{Expr: `sum by (instance, track) (rate(http_server_request_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{instance}} {{track}}"},
					},
				},
			}},
			{Title: "Business", Y: 38, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "Links created by result",
					Description: "Link creation attempts per second: created, conflict (alias taken), invalid, error.",
					Pos:         Pos{X: 0, Y: 39, W: 8, H: 8},
					Unit:        "ops",
					Stacked:     true,
					Queries: []Query{
						{Expr: `sum by (result) (rate(shortener_links_created_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{result}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Redirects by result",
					Description: "Redirect lookups per second: found, not_found, expired, deleted.",
					Pos:         Pos{X: 8, Y: 39, W: 8, H: 8},
					Unit:        "ops",
					Stacked:     true,
					Queries: []Query{
						{Expr: `sum by (result) (rate(shortener_redirects_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{result}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Cache hit ratio",
					Description: "Share of redirect lookups answered from the in-process cache.",
					Pos:         Pos{X: 16, Y: 39, W: 8, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Max:         F(1),
					Queries: []Query{
						{Expr: `sum(rate(shortener_cache_lookups_total{job=~"$job", instance=~"$instance", track=~"$track", result="hit"}[$__rate_interval])) / sum(rate(shortener_cache_lookups_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "hit ratio"},
					},
				},
			}},
			{Title: "Store", Y: 47, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "Store latency p99 by operation",
					Description: "99th percentile of SQLite store operations.",
					Pos:         Pos{X: 0, Y: 48, W: 8, H: 8},
					Unit:        "s",
					Queries: []Query{
						{Expr: `histogram_quantile(0.99, sum by (le, operation) (rate(shortener_store_operation_duration_seconds_bucket{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])))`, Legend: "{{operation}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Store errors",
					Description: "Failed store operations per second, by operation.",
					Pos:         Pos{X: 8, Y: 48, W: 8, H: 8},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `sum by (operation) (rate(shortener_store_errors_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{operation}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Visit flush batches",
					Description: "Batched visit-count writes per second by result, and visits written.",
					Pos:         Pos{X: 16, Y: 48, W: 8, H: 8},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `sum by (result) (rate(shortener_visit_flush_batches_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "batches {{result}}"},
						{Expr: `sum(rate(shortener_visits_flushed_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "visits"},
					},
				},
				{
					Kind:        StateTimeline,
					Title:       "Store writable",
					Description: "Per instance: writable while the database takes writes (a write probe every 5 s, and every real write), refuses writes while it does not (full disk, read-only file, I/O errors, a write lock held too long; also for a moment at start, before the first probe). Redirects and readiness are not affected, link creation answers 503. Alert: StoreNotWritable.",
					Pos:         Pos{X: 0, Y: 56, W: 12, H: 5},
					Unit:        "short",
					Min:         F(0),
					Max:         F(1),
					Thresholds:  []Step{{Color: "red"}, {Color: "green", Value: 1}},
					Mappings:    []Mapping{{Value: "0", Text: "refuses writes", Color: "red"}, {Value: "1", Text: "writable", Color: "green"}},
					Queries: []Query{
						{Expr: `min by (instance, track) (shortener_store_writable{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "{{instance}} ({{track}})"},
					},
				},
				{
					Kind:        StateTimeline,
					Title:       "Store reachable",
					Description: "Per instance: reachable while the last read check reached the database, unreachable while it did not (a shared PostgreSQL down or restarting, a network split; also before the first check). A replica on a shared database stays ready and serves redirects from its cache meanwhile; creates answer 503.",
					Pos:         Pos{X: 12, Y: 56, W: 12, H: 5},
					Unit:        "short",
					Min:         F(0),
					Max:         F(1),
					Thresholds:  []Step{{Color: "red"}, {Color: "green", Value: 1}},
					Mappings:    []Mapping{{Value: "0", Text: "unreachable", Color: "red"}, {Value: "1", Text: "reachable", Color: "green"}},
					Queries: []Query{
						{Expr: `min by (instance, track) (shortener_store_reachable{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "{{instance}} ({{track}})"},
					},
				},
			}},
			{Title: "Build, tracing and logs", Y: 61, Panels: []Panel{
				{
					Kind:        Table,
					Title:       "Running builds",
					Description: "One row per instance: the version, revision and Go version it runs.",
					Pos:         Pos{X: 0, Y: 62, W: 12, H: 6},
					Unit:        "short",
					Hide:        []string{"Time", "Value"},
					Queries: []Query{
						{Expr: `max by (job, instance, track, version, revision, goversion) (shortener_build_info{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto", Instant: true, Format: "table"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Trace spans dropped",
					Description: "Spans lost before export, by reason: traces are incomplete while this is above zero.",
					Pos:         Pos{X: 12, Y: 62, W: 6, H: 6},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `sum by (reason) (rate(shortener_trace_spans_dropped_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{reason}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Log write errors",
					Description: "Failed writes of log lines to stdout per second, by instance: the lines each failed write carried are lost (the first failure is also said on stderr). Alert: LogLinesLost.",
					Pos:         Pos{X: 18, Y: 62, W: 6, H: 6},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `sum by (instance, track) (rate(shortener_log_write_errors_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]))`, Legend: "{{instance}} ({{track}})"},
					},
				},
			}},
		},
	}
}
