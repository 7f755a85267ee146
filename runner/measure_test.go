package runner_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cost is what one command of a benchmark took.
type cost struct {
	wall time.Duration
	// cpu is user + system time of the process and of every child it
	// waited for (rusage from wait4): the runner with pg_restore or the
	// mysql client, a shell with every tool of its pipeline. Unlike wall
	// time it barely moves with what else the machine is doing. The
	// servers' own CPU is not in it, for envsync nor for the baseline.
	cpu time.Duration
	// peak is the process's own peak resident memory (VmHWM, polled; its
	// children are not counted), in bytes.
	peak int64
	out  string // the end of its output
}

// cpuPerGiB is CPU-seconds per GiB of size bytes.
func (c cost) cpuPerGiB(size int64) float64 { return c.cpu.Seconds() / (float64(size) / (1 << 30)) }

// report reports c's CPU-seconds per GiB of size as name's metric.
func (c cost) report(b *testing.B, name string, size int64) {
	b.ReportMetric(c.cpuPerGiB(size), name+"-cpu-s/GiB")
}

// measure runs a command to completion and says what it cost.
func measure(b *testing.B, env []string, name string, args ...string) cost {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out := &tailWriter{max: 256 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	hwm := make(chan memStatus, 1)
	go func() {
		var peak memStatus
		for {
			if m := readMemStatus(cmd.Process.Pid); m.hwm > peak.hwm {
				peak = m
			}
			select {
			case <-done:
				hwm <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	c := cost{wall: time.Since(start), out: out.String()}
	close(done)
	m := <-hwm
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	c.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	c.peak = m.hwm
	if name != "bash" {
		// The Go heap and stacks are anonymous memory; the binary's code is
		// file-backed.
		b.Logf("%s %v: %.1fs wall, %.1fs CPU with its children, peak RSS %d MiB (when it rose last: %d MiB anonymous, %d MiB of mapped files)",
			filepath.Base(name), args, c.wall.Seconds(), c.cpu.Seconds(), m.hwm>>20, m.anon>>20, m.file>>20)
	}
	return c
}

// measureHere runs fn in this process and says what it cost: wall time and
// this process's CPU time meanwhile (the baselines that use a Go driver).
func measureHere(fn func()) cost {
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	fn()
	c := cost{wall: time.Since(start)}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	c.cpu = time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	return c
}

// memStatus is a process's peak resident set so far and its current
// anonymous and file-backed parts, in bytes; zeros once it is gone.
type memStatus struct{ hwm, anon, file int64 }

func readMemStatus(pid int) memStatus {
	var m memStatus
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, _ := strings.Cut(s.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		switch name {
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m
}

// tailWriter keeps the last max bytes of a command's output.
type tailWriter struct {
	b   []byte
	max int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string { return string(w.b) }
