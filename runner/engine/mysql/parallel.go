package mysql

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// loadWorkers is how many connections insert rows into the shadow at once:
// one mysql client inserts on one server thread, which leaves cores idle.
// Config.LoadWorkers (ENVSYNC_MYSQL_LOAD_WORKERS, read by the runner)
// overrides it; -1 sends everything through the mysql client alone.
func (e *Engine) loadWorkers() int {
	switch {
	case e.cfg.LoadWorkers < 0:
		return 0
	case e.cfg.LoadWorkers > 0:
		return e.cfg.LoadWorkers
	}
	return min(max(runtime.NumCPU(), 2), 4)
}

// inserters run a dump's INSERT statements on several connections to the
// shadow, each set up with the dump's own session settings (character set,
// time zone, checks off).
type inserters struct {
	ctx      context.Context
	db       *sql.DB
	n        int
	setup    []string
	jobs     chan []byte
	inflight sync.WaitGroup
	workers  sync.WaitGroup
	firstError
	started bool
}

func (e *Engine) newInserters(ctx context.Context, shadow string, n int) (*inserters, error) {
	db, err := e.connector(shadow)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return &inserters{ctx: ctx, db: db, n: n, jobs: make(chan []byte, n)}, nil
}

// firstError keeps the first error its goroutines report.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) firstErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (p *inserters) start() error {
	p.started = true
	for i := 0; i < p.n; i++ {
		conn, err := p.db.Conn(p.ctx)
		if err != nil {
			return fmt.Errorf("mysql: connecting an inserter: %w", err)
		}
		for _, s := range p.setup {
			if _, err := conn.ExecContext(p.ctx, s); err != nil {
				conn.Close()
				return fmt.Errorf("mysql: setting up an inserter with %q: %w", s, err)
			}
		}
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			defer conn.Close()
			for stmt := range p.jobs {
				if p.firstErr() == nil {
					if err := p.exec(conn, string(stmt)); err != nil {
						p.fail(fmt.Errorf("inserting %s: %w", truncate(string(stmt), 60), err))
					}
				}
				p.inflight.Done()
			}
		}()
	}
	return nil
}

// exec runs one INSERT. Concurrent inserts into one table can deadlock;
// the server then rolls the whole statement back, so it is run again.
func (p *inserters) exec(conn *sql.Conn, stmt string) error {
	for attempt := 1; ; attempt++ {
		_, err := conn.ExecContext(p.ctx, stmt)
		var me *mysql.MySQLError
		if err == nil || attempt == 5 || !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return err
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

// insert queues one complete INSERT statement.
func (p *inserters) insert(stmt []byte) error {
	if err := p.firstErr(); err != nil {
		return err
	}
	if !p.started {
		if err := p.start(); err != nil {
			return err
		}
	}
	p.inflight.Add(1)
	p.jobs <- stmt
	return nil
}

// drain waits for every queued statement.
func (p *inserters) drain() error {
	p.inflight.Wait()
	return p.firstErr()
}

func (p *inserters) close() {
	close(p.jobs)
	p.workers.Wait()
	p.db.Close()
}

// barrier waits until the mysql client has run everything written to it
// so far: it sends a marker query and waits to read it back.
type barrier struct {
	in    io.Writer
	lines chan string
	n     int
}

func newBarrier(in io.Writer, out io.Reader) *barrier {
	b := &barrier{in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			// Only markers: other output must never block the client.
			if strings.HasPrefix(sc.Text(), "envsync-barrier-") {
				b.lines <- sc.Text()
			}
		}
		io.Copy(io.Discard, out)
		close(b.lines)
	}()
	return b
}

func (b *barrier) wait() error {
	b.n++
	marker := "envsync-barrier-" + strconv.Itoa(b.n)
	if _, err := io.WriteString(b.in, "SELECT '"+marker+"';\n"); err != nil {
		return err
	}
	for l := range b.lines {
		if strings.TrimSpace(l) == marker {
			return nil
		}
	}
	return errors.New("the mysql client stopped")
}
