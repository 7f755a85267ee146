// Package progress logs how a long transfer advances: a line every few
// seconds with the bytes so far and the rate, and a last line at the end.
package progress

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is the time between two progress lines.
const DefaultInterval = 5 * time.Second

// Meter counts bytes flowing through Reader or Writer wrappers and logs them.
type Meter struct {
	log   *slog.Logger
	what  string
	start time.Time
	n     atomic.Int64
	total atomic.Int64 // bytes expected, when known (SetTotal); 0: unknown
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// Start begins logging "what" every interval until Done.
func Start(log *slog.Logger, what string, interval time.Duration) *Meter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	m := &Meter{log: log, what: what, start: time.Now(), stop: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				m.line("progress")
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

// SetTotal says how many bytes the transfer will carry: the lines then
// give the percentage done and the seconds left at the rate so far.
func (m *Meter) SetTotal(n int64) { m.total.Store(n) }

// Bytes is the count so far.
func (m *Meter) Bytes() int64 { return m.n.Load() }

func (m *Meter) line(msg string) {
	n := m.n.Load()
	secs := time.Since(m.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(n) / secs / 1e6
	}
	attrs := []any{"transfer", m.what, "bytes", n, "mb_per_s", float64(int(rate*10)) / 10, "seconds", int(secs)}
	if total := m.total.Load(); total > 0 && n <= total {
		attrs = append(attrs, "percent", int(100*n/total))
		if n > 0 && n < total {
			attrs = append(attrs, "eta_seconds", int(secs*float64(total-n)/float64(n)))
		}
	}
	m.log.Info(msg, attrs...)
}

// Done stops the ticker and logs the total once.
func (m *Meter) Done() {
	m.once.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.line("transfer done")
	})
}

// Reader counts what is read from r.
func (m *Meter) Reader(r io.Reader) io.Reader { return &reader{r, m} }

// Writer counts what is written to w.
func (m *Meter) Writer(w io.Writer) io.Writer { return &writer{w, m} }

type reader struct {
	r io.Reader
	m *Meter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.n.Add(int64(n))
	return n, err
}

type writer struct {
	w io.Writer
	m *Meter
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.m.n.Add(int64(n))
	return n, err
}
