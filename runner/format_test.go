package runner_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/testenv"
)

// newestGz is what the developers' replication scripts take: the newest key
// under the instance that ends in .gz.
func newestGz(t *testing.T, keys []string, instance string) string {
	t.Helper()
	var gz []string
	for _, k := range keys {
		if strings.HasPrefix(k, instance+"/") && strings.HasSuffix(k, ".gz") {
			gz = append(gz, k)
		}
	}
	if len(gz) == 0 {
		t.Fatalf("no key ending in .gz under %s/: %q", instance, keys)
	}
	slices.Sort(gz)
	return gz[len(gz)-1]
}

// In the gzip format a PostgreSQL backup is what a laptop's
// replicate-postgresql.sh reads: the newest .gz key under the instance,
// given as it is to `pg_restore --no-owner --no-privileges`; and envsync's
// own restore still reads it.
func TestAPostgreSQLBackupInTheGzipFormatIsWhatALaptopRestores(t *testing.T) {
	r := newPGRig(t)
	r.mustRun(t, r.src, "backup", "ENVSYNC_DUMP_FORMAT=gzip")
	key := newestGz(t, r.s3.Keys(t, "dumps"), pgInstance)
	file := filepath.Join(t.TempDir(), "dump.gz")
	if err := os.WriteFile(file, r.get(t, key), 0o644); err != nil {
		t.Fatal(err)
	}
	r.dst.Exec(t, "postgres", "CREATE DATABASE laptop")
	cmd := exec.Command(filepath.Join(r.dst.BinDir, "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "-d", "laptop", file)
	cmd.Env = r.dst.Env("laptop")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore --no-owner --no-privileges of %s: %v\n%s", key, err, out)
	}
	want := r.src.Snapshot(t, pgDatabase)
	if ok, diff := want.Equal(r.dst.Snapshot(t, "laptop")); !ok {
		t.Fatalf("the laptop's copy differs: %s", diff)
	}
	r.mustRun(t, r.dst, "restore")
	if ok, diff := want.Equal(r.dst.Snapshot(t, pgDatabase)); !ok {
		t.Fatalf("envsync's restore of the gzip dump differs: %s", diff)
	}
}

// In the gzip format a MySQL backup is what replicate-mysql.sh reads: the
// newest .gz key, through `gunzip | mysql`.
func TestAMySQLBackupInTheGzipFormatIsWhatALaptopLoads(t *testing.T) {
	e := newMyEstate(t)
	mustRun(t, e, e.src, "backup", "ENVSYNC_DUMP_FORMAT=gzip")
	key := newestGz(t, e.s3.Keys(t, e.bucket), myInstance)
	file := filepath.Join(t.TempDir(), "dump.gz")
	if err := os.WriteFile(file, objectBytes(t, e.s3, e.bucket, key), 0o644); err != nil {
		t.Fatal(err)
	}
	e.dst.Exec(t, "", "CREATE DATABASE laptop CHARACTER SET utf8mb4")
	client := testenv.LookPath(t, "mariadb", "apt-get install mariadb-client")
	// As a laptop's own server's root: the dump keeps its triggers' definers.
	cmd := exec.Command("bash", "-c", fmt.Sprintf(`set -euo pipefail; gunzip < %q | %q --socket=%q -u root laptop`,
		file, client, filepath.Join(e.dst.Dir, "mysqld.sock")))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gunzip | mysql of %s: %v\n%s", key, err, out)
	}
	if got, want := fmt.Sprint(e.dst.Checksums(t, "laptop")), fmt.Sprint(e.src.Checksums(t, myDatabase)); got != want {
		t.Fatalf("the laptop's copy differs:\n got %s\nwant %s", got, want)
	}
	mustRun(t, e, e.dst, "restore")
	assertMySame(t, "envsync's restore of the gzip dump", mySnap(t, e.dst), mySnap(t, e.src))
}
