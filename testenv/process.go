// Package testenv starts the real servers the tests talk to — PostgreSQL,
// MariaDB, an S3-compatible server, a Prometheus Pushgateway, Prometheus —
// on loopback ports in temporary directories, and stops them when the test
// ends. It installs nothing: `make tools` (run by `make test`) does. A
// missing server fails the test with the command that installs it.
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LookPath finds a server binary on PATH, then in the extra directories
// (globs allowed), and fails the test with the install hint when it is
// nowhere.
func LookPath(t T, name, installHint string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := append([]string{}, extraDirs...)
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(string(trimNL(gopath)), "bin"))
	}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, name))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode()&0o111 != 0 {
				return m
			}
		}
	}
	t.Fatalf("testenv: %s not found; install it with: %s (or run 'make tools')", name, installHint)
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Process is a server started for one test.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout and stderr
	done chan struct{}
}

// Start runs cmd in the background with its output in a log file under a
// temporary directory, and stops it (SIGTERM, then SIGKILL) when the test
// ends. When the test failed, the log's tail is printed.
func Start(t T, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group, so that stopping it stops its children too.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("testenv: starting %s: %v", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testenv: last lines of %s's log:\n%s", name, tail(logPath, 40))
		}
	})
	return p
}

// Stop ends the process: SIGTERM, then SIGKILL after five seconds.
// Stopping a stopped process does nothing.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitTCP waits until addr accepts connections, or fails the test after
// timeout (with the process's log when it died).
func WaitTCP(t T, p *Process, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			t.Fatalf("testenv: %s exited before listening on %s:\n%s", p.Name, addr, tail(p.Log, 40))
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	name := addr
	if p != nil {
		name = p.Name
	}
	t.Fatalf("testenv: %s not listening on %s after %s", name, addr, timeout)
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n > lines {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// Unprivileged returns the credentials that servers refusing root
// (PostgreSQL) run under when the tests run as root, as CI does; nil when
// the tests already run as an ordinary user.
func Unprivileged(t T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("testenv: running as root and no 'nobody' user to run servers as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// Chown gives dir (recursively) to cred's user; a nil cred does nothing.
func Chown(t T, dir string, cred *syscall.Credential) {
	t.Helper()
	if cred == nil {
		return
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		t.Fatalf("testenv: chown %s: %v", dir, err)
	}
}

// TempDir is a temporary directory the unprivileged server user can enter:
// t.TempDir's parents are private to root.
func TempDir(t T, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "envsync-test-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	Chown(t, dir, cred)
	return dir
}

func mustf(t T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("testenv: "+format+": %v", append(args, err)...)
	}
}

// T is the part of testing.TB the harness uses. Tests pass their *testing.T;
// a program (the demo, cmd/envsync-demo) passes a Session (RunSession).
type T interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Context() context.Context
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
}
