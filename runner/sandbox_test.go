package runner_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/envsync/envsync/gen/kube"
	"github.com/envsync/envsync/testenv"
)

// The generated pods run the runner as an unprivileged user with a
// read-only root filesystem and only /tmp writable (HOME included). These
// tests run the built binary so, under bubblewrap: uid and gid 10001 in a
// user namespace, the whole filesystem bound read-only, one fresh
// directory writable and named by TMPDIR and HOME (the pod's /tmp). A write
// anywhere else fails the operation.

// sandboxed runs `envsync run op` under the pod's restrictions and returns
// its output; the run must succeed and leave its writable directory empty.
func sandboxed(t *testing.T, op string, env []string) string {
	t.Helper()
	bwrap := testenv.LookPath(t, "bwrap", "make tools (apt-get install bubblewrap)")
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(kube.RunnerUID, 10)
	cmd := exec.Command(bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--bind", tmp, tmp,
		"--unshare-user", "--uid", id, "--gid", id, "--die-with-parent", "--", envsyncBinary(t), "run", op)
	cmd.Env = append(env, "TMPDIR="+tmp, "HOME="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("envsync run %s in the sandbox: %v\n%s", op, err, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("envsync run %s left %v in its temporary directory", op, left)
	}
	return string(out)
}

func TestPostgreSQLBackupAndSanitisingRestoreAsTheUnprivilegedUserOnAReadOnlyRoot(t *testing.T) {
	r := newPGRig(t)
	sandboxed(t, "backup", r.env(r.src))
	script := filepath.Join(t.TempDir(), "sanitise.sql")
	os.WriteFile(script, []byte(pgSanitise), 0o644)
	// With the local copy too: it is written under TMPDIR.
	logs := sandboxed(t, "restore", r.env(r.dst, "SANITISE_SCRIPT="+script, "ENVSYNC_RESTORE_LOCAL_COPY=true"))
	if !hasLine(logs, "from the verified local copy") {
		t.Errorf("the restore did not use its local copy under TMPDIR:\n%s", logs)
	}
	var n int64
	r.dst.Connect(t, pgDatabase).QueryRow(t.Context(), pgUnsanitised).Scan(&n)
	if n != 0 {
		t.Errorf("%d unsanitised rows in live", n)
	}
}

func TestMySQLBackupAndRestoreAsTheUnprivilegedUserOnAReadOnlyRoot(t *testing.T) {
	e := newMyEstate(t)
	want := mySnap(t, e.src)
	sandboxed(t, "backup", e.env(t, e.src))
	sandboxed(t, "restore", e.env(t, e.dst))
	assertMySame(t, "live restored in the sandbox", mySnap(t, e.dst), want)
}

// mongosh keeps its history and logs under HOME: in the pod, /tmp.
func TestMongoSanitisingRestoreWithMongoshAsTheUnprivilegedUserOnAReadOnlyRoot(t *testing.T) {
	r := newMongoRig(t)
	const db = "publisher_production"
	m := loadMongoManifest(t)
	for _, a := range m.Archives {
		if a.Database == db {
			r.put(t, mongoInstance+"/"+a.File, fixture(t, a.File))
			sandboxed(t, "restore", r.env(r.src, db, "FILENAME="+a.File))
		}
	}
	sandboxed(t, "backup", r.env(r.src, db))
	script := writeScript(t, "db.users.updateMany({}, {$set: {email: 'user@example.invalid'}});\n")
	sandboxed(t, "restore", r.env(r.dst, db, "SANITISE_SCRIPT="+script))
	users := r.dst.Client().Database(db).Collection("users")
	n, err := users.CountDocuments(t.Context(), map[string]any{"email": map[string]any{"$ne": "user@example.invalid"}})
	if err != nil || n != 0 {
		t.Errorf("%d unsanitised users (%v)", n, err)
	}
	if all, _ := users.CountDocuments(t.Context(), map[string]any{}); all == 0 {
		t.Error("no users restored: the test proves nothing")
	}
	assertNoMongoWorking(t, r.dst, db)
}
