package freeport

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

func port(t *testing.T, addr string) int {
	t.Helper()
	host, text, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(text)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("%s: want 127.0.0.1:<port>", addr)
	}
	return p
}

// Ports come from below the ephemeral range, are free, and never repeat,
// also when several goroutines ask at once.
func TestAddrInRangeFreeAndUnique(t *testing.T) {
	var (
		p    Picker
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for range 25 {
				addr, err := p.Addr()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				dup := seen[addr]
				seen[addr] = true
				mu.Unlock()
				if dup {
					t.Errorf("%s handed out twice", addr)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != 100 {
		t.Fatalf("%d addresses, want 100", len(seen))
	}
	for addr := range seen {
		if n := port(t, addr); n < First || n > Last {
			t.Errorf("%s: port outside %d-%d", addr, First, Last)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s is not free: %v", addr, err)
			continue
		}
		l.Close()
	}
}

// A port something listens on is not handed out, and once every port of
// the range was given, Addr says so instead of repeating one.
func TestAddrSkipsBusyPortsAndRunsOut(t *testing.T) {
	// A busy port and the one above it, both free of other listeners: the
	// kernel's pick is in the ephemeral range, so take two neighbours from
	// a Picker of our own and occupy the lower one.
	var scout Picker
	var busy net.Listener
	var lo int
	for busy == nil {
		addr, err := scout.Addr()
		if err != nil {
			t.Fatal(err)
		}
		lo = port(t, addr)
		if lo == Last {
			continue
		}
		if l, err := net.Listen("tcp", addr); err == nil {
			if free, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lo+1)); err == nil {
				free.Close()
				busy = l
			} else {
				l.Close()
			}
		}
	}
	defer busy.Close()

	p := Picker{first: lo, last: lo + 1}
	for range 5 { // the start is random: the busy port must lose every time
		p.given = nil
		addr, err := p.Addr()
		if err != nil {
			t.Fatal(err)
		}
		if got := port(t, addr); got != lo+1 {
			t.Fatalf("Addr = %s, want port %d (%d is busy)", addr, lo+1, lo)
		}
	}
	if addr, err := p.Addr(); err == nil {
		t.Fatalf("Addr = %s after the only free port was given, want an error", addr)
	}
}
