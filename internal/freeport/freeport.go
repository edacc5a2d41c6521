// Package freeport picks loopback ports that are free to listen on, for a
// server that a program or a test is about to start and point at that port.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// The ports handed out lie below Linux's ephemeral range (32768-60999 by
// default), which is where the kernel picks the local port of an outgoing
// connection: one cannot take the port between the pick and the bind.
const (
	First = 20000
	Last  = 32767
)

// Picker hands out loopback addresses whose port was free a moment ago and
// never hands out the same port twice, so two servers started one after the
// other cannot be given one port. The zero value is ready to use; a Picker is
// safe for concurrent use.
type Picker struct {
	mu    sync.Mutex
	given map[int]bool
	// first and last narrow the range in this package's tests; zero means
	// First and Last.
	first, last int
}

// Addr returns "127.0.0.1:port" with a port in First-Last that this Picker
// never returned before and that could be bound just now. It starts at a
// random port, so separate processes (go test runs packages in parallel)
// rarely try the same ones, and then tries each port of the range once.
func (p *Picker) Addr() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	first, last := p.first, p.last
	if first == 0 {
		first, last = First, Last
	}
	if p.given == nil {
		p.given = map[int]bool{}
	}
	n := last - first + 1
	start := rand.IntN(n)
	for i := range n {
		port := first + (start+i)%n
		if p.given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		l.Close()
		p.given[port] = true
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("no free loopback port left in %d-%d", first, last)
}
