package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Secondary keys are built after a table's rows are in, as myloader does:
// InnoDB inserting each row into every secondary index's B-tree costs a
// random page access per key when the keys come in no order (a hash, an
// e-mail), where ALTER TABLE … ADD KEY sorts them once and builds the tree
// bottom up. The CREATE TABLE of the dump goes in without its secondary
// keys; once the table's rows are loaded (mysqldump's ENABLE KEYS line, or
// the dump's end) one ALTER TABLE on a connection of its own adds them
// back, in their order, while the next table loads. The load ends only when
// every key is built, so the swap sees the tables as the dump declared
// them. Tables with foreign keys (whose constraints need their index) or
// partitions keep their CREATE TABLE as it is.

var (
	createTableRE = regexp.MustCompile("^CREATE TABLE `((?:[^`]|``)*)` \\($")
	enableKeysRE  = regexp.MustCompile("^/\\*!40000 ALTER TABLE `((?:[^`]|``)*)` ENABLE KEYS \\*/;")
	secondaryKeys = [][]byte{[]byte("  KEY "), []byte("  UNIQUE KEY "), []byte("  FULLTEXT KEY "), []byte("  SPATIAL KEY ")}
)

// splitKeys takes the secondary keys out of a CREATE TABLE statement as
// mysqldump writes it (one column or key a line). It returns the statement
// unchanged and no keys for a table it leaves alone.
func splitKeys(stmt []byte) ([]byte, []string) {
	if bytes.Contains(stmt, []byte("\n  CONSTRAINT ")) || bytes.Contains(stmt, []byte("PARTITION BY")) {
		return stmt, nil
	}
	lines := bytes.SplitAfter(stmt, []byte("\n"))
	end := -1
	for i, l := range lines {
		if i > 0 && bytes.HasPrefix(l, []byte(")")) {
			end = i
			break
		}
	}
	if end < 0 {
		return stmt, nil
	}
	var kept [][]byte
	var keys []string
	for _, l := range lines[1:end] {
		def := bytes.TrimSuffix(bytes.TrimRight(l, "\r\n"), []byte(","))
		if isSecondaryKey(l) {
			keys = append(keys, string(bytes.TrimSpace(def)))
			continue
		}
		kept = append(kept, def)
	}
	if len(keys) == 0 || len(kept) == 0 {
		return stmt, nil
	}
	var out bytes.Buffer
	out.Write(lines[0])
	out.Write(bytes.Join(kept, []byte(",\n")))
	out.WriteByte('\n')
	for _, l := range lines[end:] {
		out.Write(l)
	}
	return out.Bytes(), keys
}

func isSecondaryKey(line []byte) bool {
	for _, p := range secondaryKeys {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

type job struct{ table, stmt string }

// keyBuilder adds tables' deferred keys back on a connection of its own,
// one table after another, in the order their rows finish loading.
type keyBuilder struct {
	ctx     context.Context
	log     *slog.Logger
	db      *sql.DB
	setup   *[]string // the dump's session settings, known once its data starts
	pending map[string][]string
	order   []string
	jobs    chan job
	wg      sync.WaitGroup
	firstError
	started bool
}

func (e *Engine) newKeyBuilder(ctx context.Context, shadow string, setup *[]string) (*keyBuilder, error) {
	db, err := e.connector(shadow)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &keyBuilder{ctx: ctx, log: e.log, db: db, setup: setup, pending: map[string][]string{}, jobs: make(chan job, 1024)}, nil
}

// deferKeys records the keys taken out of table's CREATE TABLE.
func (k *keyBuilder) deferKeys(table string, keys []string) {
	if _, ok := k.pending[table]; !ok {
		k.order = append(k.order, table)
	}
	k.pending[table] = keys
}

// build queues the ALTER TABLE that adds table's keys back, if any.
func (k *keyBuilder) build(table string) {
	keys, ok := k.pending[table]
	if !ok {
		return
	}
	delete(k.pending, table)
	adds := make([]string, len(keys))
	for i, key := range keys {
		adds[i] = "ADD " + key
	}
	k.startOnce()
	k.wg.Add(1)
	k.jobs <- job{table, "ALTER TABLE " + quoteName(table) + " " + strings.Join(adds, ", ")}
}

func (k *keyBuilder) startOnce() {
	if k.started {
		return
	}
	k.started = true
	go func() {
		conn, err := k.db.Conn(k.ctx)
		for _, s := range *k.setup {
			if err == nil {
				_, err = conn.ExecContext(k.ctx, s)
			}
		}
		if err != nil {
			k.fail(fmt.Errorf("mysql: connecting the key builder: %w", err))
		}
		for j := range k.jobs {
			if err == nil && k.firstErr() == nil {
				start := time.Now()
				if _, xerr := conn.ExecContext(k.ctx, j.stmt); xerr != nil {
					k.fail(fmt.Errorf("mysql: building keys (%s): %w", truncate(j.stmt, 80), xerr))
				} else {
					k.log.Info("secondary keys built", "table", j.table, "seconds", time.Since(start).Seconds())
				}
			}
			k.wg.Done()
		}
		if conn != nil {
			conn.Close()
		}
	}()
}

// finish builds the keys not built yet and waits for every build.
func (k *keyBuilder) finish() error {
	for _, t := range k.order {
		k.build(t)
	}
	k.wg.Wait()
	return k.firstErr()
}

// close stops the builder; a build still running is cut with the
// context's end or the shadow's drop.
func (k *keyBuilder) close() {
	k.fail(fmt.Errorf("mysql: the load stopped"))
	if k.started {
		close(k.jobs)
	}
	k.db.Close()
}
