package telemetry

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BufferedWriter collects log lines in memory and writes them out when the
// buffer fills or every interval, instead of one write system call per
// access line (half the cost of access logging in make bench). The price is
// that up to one interval of lines is lost if the process is killed with
// SIGKILL; Close flushes on a normal exit.
//
// A write to the output that fails loses the lines it carried, and only
// those: the next lines are written as usual (bufio.Writer would keep the
// error and drop every later line). The first failure is reported on the
// error writer given to NewBufferedWriter; every failure is counted in
// shortener_log_write_errors_total (see RegisterMetrics).
type BufferedWriter struct {
	mu       sync.Mutex
	out      io.Writer
	errOut   io.Writer
	buf      []byte
	size     int
	reported bool // the first failure went to errOut

	failures atomic.Uint64

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewBufferedWriter buffers up to size bytes for w and flushes every
// interval (size <= 0: 4 KiB). errOut (typically stderr; nil for none)
// hears once that writing to w failed.
func NewBufferedWriter(w io.Writer, size int, interval time.Duration, errOut io.Writer) *BufferedWriter {
	if size <= 0 {
		size = 4096
	}
	if errOut == nil {
		errOut = io.Discard
	}
	b := &BufferedWriter{
		out: w, errOut: errOut, buf: make([]byte, 0, size), size: size,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.loop(interval)
	return b
}

func (b *BufferedWriter) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush() // counted and reported by write
		}
	}
}

// Write implements io.Writer; safe for concurrent use. p is buffered; it
// is written at once when it does not fit in the buffer, and then an error
// means p was lost.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.size {
		_ = b.flushLocked() // a failure loses the buffered lines, not p
	}
	if len(p) > b.size {
		if err := b.write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes out what is buffered. On failure the buffered lines are
// dropped (and counted), so that the next ones can still be written.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *BufferedWriter) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	err := b.write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// write writes p to the output, counting and reporting a failure. b.mu is
// held.
func (b *BufferedWriter) write(p []byte) error {
	n, err := b.out.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err == nil {
		return nil
	}
	b.failures.Add(1)
	if !b.reported {
		b.reported = true
		fmt.Fprintf(b.errOut, "writing log lines failed, %d bytes lost: %v (later failures are counted in %s, not reported here)\n",
			len(p)-n, err, MetricLogWriteErrors)
	}
	return fmt.Errorf("write log lines: %w", err)
}

// Close stops the flusher and writes out what is buffered.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}

// RegisterMetrics registers shortener_log_write_errors_total on reg: the
// writes to the log output that failed (their lines are lost). On a nil
// *BufferedWriter it stays at zero.
func (b *BufferedWriter) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: MetricLogWriteErrors,
		Help: "Writes of buffered log lines to the log output that failed; the lines of a failed write are lost.",
	}, func() float64 {
		if b == nil {
			return 0
		}
		return float64(b.failures.Load())
	}))
}
