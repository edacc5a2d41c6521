package board

// Runtime is runtime.json: Shortener / Go runtime and process.
func Runtime() Board {
	return Board{
		File:        "runtime.json",
		UID:         "shortener-runtime",
		Title:       "Shortener / Go runtime and process",
		Description: "Go runtime and process metrics from the standard collectors, per instance.",
		Tags:        []string{"shortener", "runtime"},
		Rows: []Row{
			{Title: "Process", Y: 0, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "CPU",
					Description: "CPU seconds used per second.",
					Pos:         Pos{X: 0, Y: 1, W: 8, H: 8},
					Unit:        "percentunit",
					Queries: []Query{
						{Expr: `rate(process_cpu_seconds_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Resident memory",
					Description: "Resident set size.",
					Pos:         Pos{X: 8, Y: 1, W: 8, H: 8},
					Unit:        "bytes",
					Queries: []Query{
						{Expr: `process_resident_memory_bytes{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Open file descriptors",
					Description: "Open FDs as a share of the limit (connections and the database count).",
					Pos:         Pos{X: 16, Y: 1, W: 8, H: 8},
					Unit:        "percentunit",
					Min:         F(0),
					Queries: []Query{
						{Expr: `process_open_fds{job=~"$job", instance=~"$instance", track=~"$track"} / process_max_fds{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Uptime",
					Description: "Time since the oldest selected instance started.",
					Pos:         Pos{X: 0, Y: 9, W: 8, H: 4},
					Unit:        "s",
					Queries: []Query{
						{Expr: `time() - min(process_start_time_seconds{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "GOMAXPROCS",
					Description: "Threads running Go code at once; should match the CPU limit.",
					Pos:         Pos{X: 8, Y: 9, W: 8, H: 4},
					Unit:        "short",
					Queries: []Query{
						{Expr: `max(go_sched_gomaxprocs_threads{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
				{
					Kind:        Stat,
					Title:       "Go GC target",
					Description: "GOGC percent of the selected instances.",
					Pos:         Pos{X: 16, Y: 9, W: 8, H: 4},
					Unit:        "percent",
					Queries: []Query{
						{Expr: `max(go_gc_gogc_percent{job=~"$job", instance=~"$instance", track=~"$track"})`, Legend: "__auto"},
					},
				},
			}},
			{Title: "Go runtime", Y: 13, Panels: []Panel{
				{
					Kind:        TimeSeries,
					Title:       "Goroutines and threads",
					Description: "Goroutines (a steady climb is a leak) and OS threads.",
					Pos:         Pos{X: 0, Y: 14, W: 8, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `go_goroutines{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "goroutines {{instance}}"},
						{Expr: `go_threads{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "threads {{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Heap",
					Description: "Heap in use and allocated, and memory obtained from the OS.",
					Pos:         Pos{X: 8, Y: 14, W: 8, H: 8},
					Unit:        "bytes",
					Queries: []Query{
						{Expr: `go_memstats_heap_inuse_bytes{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "heap in use {{instance}}"},
						{Expr: `go_memstats_heap_alloc_bytes{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "heap allocated {{instance}}"},
						{Expr: `go_memstats_sys_bytes{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "from OS {{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Allocation rate",
					Description: "Bytes allocated per second.",
					Pos:         Pos{X: 16, Y: 14, W: 8, H: 8},
					Unit:        "Bps",
					Queries: []Query{
						{Expr: `rate(go_memstats_alloc_bytes_total{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "GC cycles",
					Description: "Garbage collections per second.",
					Pos:         Pos{X: 0, Y: 22, W: 8, H: 8},
					Unit:        "ops",
					Queries: []Query{
						{Expr: `rate(go_gc_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])`, Legend: "{{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "GC pause",
					Description: "Mean and longest stop-the-world pause. (quantile is \"1.0\" when Prometheus 2 scrapes OpenMetrics, \"1\" in Prometheus 3.)",
					Pos:         Pos{X: 8, Y: 22, W: 8, H: 8},
					Unit:        "s",
					Queries: []Query{
						{Expr: `rate(go_gc_duration_seconds_sum{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval]) / rate(go_gc_duration_seconds_count{job=~"$job", instance=~"$instance", track=~"$track"}[$__rate_interval])`, Legend: "mean {{instance}}"},
						{Expr: `go_gc_duration_seconds{job=~"$job", instance=~"$instance", track=~"$track", quantile=~"1|1.0"}`, Legend: "max {{instance}}"},
					},
				},
				{
					Kind:        TimeSeries,
					Title:       "Heap objects and next GC",
					Description: "Live objects and the heap size that triggers the next GC.",
					Pos:         Pos{X: 16, Y: 22, W: 8, H: 8},
					Unit:        "short",
					Queries: []Query{
						{Expr: `go_memstats_heap_objects{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "objects {{instance}}"},
						{Expr: `go_memstats_next_gc_bytes{job=~"$job", instance=~"$instance", track=~"$track"}`, Legend: "next GC bytes {{instance}}"},
					},
				},
			}},
		},
	}
}
