package runner_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/testenv"
)

// benchBytes is the least size of the generated schema's rows: 1 GiB, or
// ENVSYNC_BENCH_MYSQL_MIB for a quick try of the benchmark itself.
func benchBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv("ENVSYNC_BENCH_MYSQL_MIB"), 10, 64); err == nil && v > 0 {
		return v << 20
	}
	return 1 << 30
}

// BenchmarkMySQLAgainstTheShellPipelines runs, in one run against the same
// MariaDB and S3 server, envsync backup beside `mysqldump | gzip -1 | aws s3
// cp -`, and envsync restore beside `aws s3 cp - | gzip -d | mysql` (today's
// drop-and-reload), on a generated schema of more than 1 GiB. It reports the
// wall-time and CPU-time ratios, CPU-seconds per GiB of rows of each, the
// runner's peak resident memory and the longest time a reader found the
// live schema unavailable during envsync's restore.
func BenchmarkMySQLAgainstTheShellPipelines(b *testing.B) {
	const db = "bench"
	m := testenv.StartMariaDB(b, "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=512M")
	s3srv := testenv.StartS3(b)
	bucket := s3srv.CreateBucket(b, "mysql-bench")
	bin := envsyncBinary(b)
	// The baselines' tools.
	testenv.LookPath(b, "aws", "apt-get install awscli")
	testenv.LookPath(b, "mysqldump", "apt-get install mariadb-client")

	gen := time.Now()
	dumpSize := generateBenchSchema(b, m, db)
	b.Logf("generated schema %s: about %d MiB of rows in %s", db, dumpSize>>20, time.Since(gen).Round(time.Second))

	env := append(append(os.Environ(), s3srv.Env()...),
		"DB_ENGINE=mysql", "DB_HOST="+m.Host, "DB_PORT="+strconv.Itoa(m.Port),
		"DB_USER="+m.User, "DB_PASSWORD="+m.Password, "DB_DATABASE="+db,
		"DB_INSTANCE=bench-mysql", "BUCKET="+s3srv.URL(bucket), "ENVIRONMENT=staging")
	shellEnv := append(append(os.Environ(), s3srv.Env()...), "MYSQL_PWD="+m.Password)
	conn := fmt.Sprintf("-h %s -P %d -u %s", m.Host, m.Port, m.User)
	shellKey := fmt.Sprintf("s3://%s/shell/2024-01-01T000000Z-%s.gz", bucket, db)

	b.ResetTimer()
	for range b.N {
		envBackup := measure(b, env, bin, "run", "backup")
		shellBackup := measure(b, shellEnv, "bash", "-c", fmt.Sprintf(
			`set -euo pipefail; mysqldump --single-transaction --routines --triggers --events --hex-blob %s %s | gzip -1 | aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" - %s`, conn, db, shellKey))

		// The reader watches live during envsync's restore only.
		reader := watchLive(b, m, db, []string{"SELECT id FROM items ORDER BY id LIMIT 1", "SELECT id FROM orders ORDER BY id LIMIT 1", "SELECT n FROM order_count"})
		restoreStart := time.Now()
		envRestore := measure(b, env, bin, "run", "restore")
		gap, reads, errs, firstErr := reader.stop()
		if at, ok := logTime([]byte(envRestore.out), "swapped the shadow schema into live"); ok {
			around := reader.longestBetween(at.Add(-2*time.Second), at.Add(2*time.Second))
			b.Logf("the swap was logged %s into the restore; the longest gap ended %s into it; around the swap (±2 s) the longest gap was %s",
				at.Sub(restoreStart).Round(time.Millisecond), reader.longestAt.Sub(restoreStart).Round(time.Millisecond), around.Round(time.Millisecond))
			b.ReportMetric(float64(around.Milliseconds()), "swap-unavailable-max-ms")
		}
		b.Log("where the restore's time goes: " + timeline(envRestore.out))
		shellRestore := measure(b, shellEnv, "bash", "-c", fmt.Sprintf(
			`set -euo pipefail; mysql %[1]s -e 'DROP DATABASE IF EXISTS %[2]s_shell; CREATE DATABASE %[2]s_shell'; aws s3 cp --endpoint-url "$AWS_ENDPOINT_URL_S3" %[3]s - | gzip -d | mysql %[1]s %[2]s_shell`, conn, db, shellKey))

		if errs > 0 {
			b.Errorf("a reader of live got %d errors during envsync's restore, first: %v", errs, firstErr)
		}
		b.Logf("backup: envsync %s (peak RSS %d MiB), mysqldump|gzip -1|aws s3 cp %s", envBackup.wall.Round(time.Millisecond), envBackup.peak>>20, shellBackup.wall.Round(time.Millisecond))
		b.Logf("restore: envsync %s (peak RSS %d MiB), aws s3 cp|gzip -d|mysql %s", envRestore.wall.Round(time.Millisecond), envRestore.peak>>20, shellRestore.wall.Round(time.Millisecond))
		b.Logf("live during envsync's restore: %d reads, %d errors, longest unavailable %s (the shell pipeline: the whole restore)", reads, errs, gap.Round(time.Millisecond))
		b.ReportMetric(envBackup.wall.Seconds()/shellBackup.wall.Seconds(), "backup-time/shell")
		b.ReportMetric(envRestore.wall.Seconds()/shellRestore.wall.Seconds(), "restore-time/shell")
		b.ReportMetric(envBackup.cpu.Seconds()/shellBackup.cpu.Seconds(), "backup-cpu/shell")
		b.ReportMetric(envRestore.cpu.Seconds()/shellRestore.cpu.Seconds(), "restore-cpu/shell")
		envBackup.report(b, "envsync-backup", dumpSize)
		shellBackup.report(b, "shell-backup", dumpSize)
		envRestore.report(b, "envsync-restore", dumpSize)
		shellRestore.report(b, "shell-restore", dumpSize)
		b.ReportMetric(float64(max(envBackup.peak, envRestore.peak))/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(gap.Milliseconds()), "live-unavailable-max-ms")
		b.ReportMetric(envBackup.wall.Seconds(), "envsync-backup-s")
		b.ReportMetric(envRestore.wall.Seconds(), "envsync-restore-s")

		// The gzip format (ENVSYNC_DUMP_FORMAT=gzip, what laptops read),
		// beside envsync's zstd: last, as its pointer is then the newest.
		gzBackup := measure(b, append(env, "ENVSYNC_DUMP_FORMAT=gzip"), bin, "run", "backup")
		gzRestore := measure(b, env, bin, "run", "restore")
		b.ReportMetric(gzBackup.wall.Seconds()/envBackup.wall.Seconds(), "gzip-backup-time/zstd")
		b.ReportMetric(gzRestore.wall.Seconds()/envRestore.wall.Seconds(), "gzip-restore-time/zstd")
		gzBackup.report(b, "gzip-backup", dumpSize)
		gzRestore.report(b, "gzip-restore", dumpSize)
	}
}

// generateBenchSchema builds tables by doubling with INSERT … SELECT until
// the rows' text passes benchBytes, plus a view and a trigger; it returns
// the approximate size of the rows as dumped.
func generateBenchSchema(b *testing.B, m *testenv.MariaDB, db string) int64 {
	b.Helper()
	m.Exec(b, "", "CREATE DATABASE "+db+" CHARACTER SET utf8mb4")
	m.Exec(b, db, `CREATE TABLE items (id BIGINT PRIMARY KEY AUTO_INCREMENT, sku CHAR(32) NOT NULL, title VARCHAR(255), body TEXT, price DECIMAL(10,2), created DATETIME, KEY (sku)) ENGINE=InnoDB;
		CREATE TABLE orders (id BIGINT PRIMARY KEY AUTO_INCREMENT, item_id BIGINT NOT NULL, email VARCHAR(200), `+"`status`"+` VARCHAR(20), placed DATETIME, KEY (item_id)) ENGINE=InnoDB;
		INSERT INTO items (sku, title, body, price, created) VALUES (MD5(RAND()), 'first', REPEAT('x', 200), 1, NOW());`)
	root := m.Root()
	var size, rows int64
	for want := benchBytes(); size < want; {
		// Double the table, or add just what is missing.
		limit := ""
		if rows > 0 && size*2 > want {
			limit = fmt.Sprintf(" LIMIT %d", (want-size)/(size/rows)+1)
		}
		if _, err := root.Exec("INSERT INTO " + db + `.items (sku, title, body, price, created)
			SELECT MD5(RAND()), CONCAT('Item ', MD5(RAND())), CONCAT(REPEAT('lorem ipsum dolor sit amet ', 3), MD5(RAND()), MD5(RAND()), MD5(RAND())), ROUND(RAND() * 1000, 2), NOW() - INTERVAL FLOOR(RAND() * 100000000) SECOND FROM ` + db + ".items" + limit); err != nil {
			b.Fatalf("generating items: %v", err)
		}
		if err := root.QueryRow("SELECT COUNT(*), SUM(LENGTH(sku) + LENGTH(title) + LENGTH(body) + 40) FROM "+db+".items").Scan(&rows, &size); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := root.Exec("INSERT INTO " + db + ".orders (item_id, email, `status`, placed) SELECT id, CONCAT('user', id, '@example.org'), IF(id % 3 = 0, 'paid', 'open'), created FROM " + db + ".items WHERE id % 2 = 0"); err != nil {
		b.Fatalf("generating orders: %v", err)
	}
	var orders int64
	root.QueryRow("SELECT SUM(LENGTH(email) + 40) FROM " + db + ".orders").Scan(&orders)
	// Created by the runner's user, so that the shell pipeline (which keeps
	// DEFINERs) can load them too.
	if _, err := m.DB(b, db).Exec(`CREATE VIEW order_count AS SELECT COUNT(*) AS n FROM orders WHERE id < 1000;
		CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.email = LOWER(NEW.email);`); err != nil {
		b.Fatal(err)
	}
	settle(b, root)
	return size + orders
}

// settle has InnoDB write out the generation's dirty pages now, not during
// the first timed run, as the PostgreSQL benchmark's CHECKPOINT does.
func settle(b *testing.B, root *sql.DB) {
	b.Helper()
	var pct string
	if err := root.QueryRow("SELECT @@GLOBAL.innodb_max_dirty_pages_pct").Scan(&pct); err != nil {
		b.Fatal(err)
	}
	if _, err := root.Exec("SET GLOBAL innodb_max_dirty_pages_pct = 0"); err != nil {
		b.Fatal(err)
	}
	defer root.Exec("SET GLOBAL innodb_max_dirty_pages_pct = " + pct)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var name string
		var dirty int64
		if err := root.QueryRow("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Scan(&name, &dirty); err != nil {
			b.Fatal(err)
		}
		if dirty == 0 || time.Now().After(deadline) {
			break
		}
	}
	syscall.Sync()
}

// logTime is the time of the runner's first JSON log record whose message
// is msg.
func logTime(out []byte, msg string) (time.Time, bool) {
	for _, line := range bytes.Split(out, []byte("\n")) {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == msg {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}

// liveWatch queries live in a loop and records the longest stretch without
// a successful query.
type liveWatch struct {
	stopped   atomic.Bool
	wg        sync.WaitGroup
	longest   time.Duration
	longestAt time.Time
	gaps      []gap // the gaps over 10 ms
	reads     int
	errs      int
	firstErr  error
}

func watchLive(b *testing.B, m *testenv.MariaDB, db string, queries []string) *liveWatch {
	conn := m.DB(b, db)
	conn.SetMaxOpenConns(1)
	w := &liveWatch{}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		last := time.Now()
		for !w.stopped.Load() {
			for _, q := range queries {
				var v any
				err := conn.QueryRow(q).Scan(&v)
				now := time.Now()
				w.reads++
				if err != nil && err != sql.ErrNoRows {
					w.errs++
					if w.firstErr == nil {
						w.firstErr = fmt.Errorf("%s: %w", q, err)
					}
					continue
				}
				g := now.Sub(last)
				if g > w.longest {
					w.longest, w.longestAt = g, now
				}
				if g > 10*time.Millisecond {
					w.gaps = append(w.gaps, gap{now, g})
				}
				last = now
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return w
}

type gap struct {
	end time.Time
	d   time.Duration
}

// longestBetween is the longest gap that ended between from and to.
func (w *liveWatch) longestBetween(from, to time.Time) time.Duration {
	var m time.Duration
	for _, g := range w.gaps {
		if g.end.After(from) && g.end.Before(to) && g.d > m {
			m = g.d
		}
	}
	return m
}

func (w *liveWatch) stop() (time.Duration, int, int, error) {
	w.stopped.Store(true)
	w.wg.Wait()
	return w.longest, w.reads, w.errs, w.firstErr
}
