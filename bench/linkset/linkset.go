// Package linkset defines the links the benchmark stores and requests: link
// i has code "b" + i in seven decimal digits and a fixed target URL, so the
// filler, the baseline server, wrk's Lua script and the latency generator
// agree on them without passing lists around.
package linkset

import "fmt"

// Code returns the short code of link i (0 <= i < 10,000,000).
func Code(i int) string { return fmt.Sprintf("b%07d", i) }

// URL returns the target of link i.
func URL(i int) string { return fmt.Sprintf("https://example.com/articles/%d", i) }

// SQLCode and SQLURL are the same two formulas as SQLite expressions of i,
// for the bulk fill.
const (
	SQLCode = `printf('b%07d', i)`
	SQLURL  = `'https://example.com/articles/' || i`
)

// PGCode and PGURL are the same formulas as PostgreSQL expressions of i.
const (
	PGCode = `'b' || lpad(i::text, 7, '0')`
	PGURL  = `'https://example.com/articles/' || i`
)

// LuaCode is the same formula for wrk's Lua script.
const LuaCode = `string.format("/b%07d", i)`
