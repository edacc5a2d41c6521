// Package faulttest holds the shortener's fault tests: each builds the real
// binary, runs it as separate processes on a real SQLite file and injects a
// fault from outside (kill -9, a second process on the same file, SIGTERM
// under load, a read-only or full disk, an unreachable trace collector, slow
// clients), then checks what users would see. The tests live in _test.go
// files; this file only documents the package.
package faulttest
