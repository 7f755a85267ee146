package engine

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// Pipe size and wait of outputInBatches. Linux lets an unprivileged
// process grow a pipe to 1 MiB (fs.pipe-max-size); in the millisecond the
// reader waits, a tool fills it only past 1 GB/s, and then merely waits
// for the reader.
const (
	outputPipeBytes = 1 << 20
	shortRead       = 128 << 10
	batchWait       = time.Millisecond
)

// DumpTo runs cmd, a dump tool, copying its standard output to w through
// outputInBatches. When w fails (the store did), the tool is stopped and
// w's error returned; else the tool's own result.
func DumpTo(cmd *exec.Cmd, w io.Writer) error {
	out, err := outputInBatches(cmd)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if _, err := io.Copy(w, out); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("storing the dump: %w", err)
	}
	return cmd.Wait()
}

// outputInBatches sets cmd's standard output to a pipe of 1 MiB and
// returns its reading end, which reads in batches. pg_dump writes its
// archive 4 KiB at a time; a reader that takes each write as it comes
// sleeps and is woken, and wakes the tool, a quarter of a million times
// per GiB, and on a virtual machine those context switches cost more CPU
// than the copying (a third of the runner's in a backup's profile). After
// a read that drained the pipe, the next one waits a millisecond for it
// to fill, so the tool writes without waiting nor waking anyone. Where the
// pipe cannot grow, reads are plain. Call it before cmd.Start; read to the
// end before cmd.Wait, which closes the pipe.
func outputInBatches(cmd *exec.Cmd) (io.Reader, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	f := out.(*os.File)
	if !grow(f, outputPipeBytes) {
		return f, nil
	}
	return &batchReader{f: f}, nil
}

// grow asks for a pipe of size bytes and says whether it has that much.
func grow(f *os.File, size int) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	got := 0
	rc.Control(func(fd uintptr) {
		got, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size)
	})
	return got >= size
}

type batchReader struct {
	f       *os.File
	drained bool // the last read took less than shortRead
}

func (b *batchReader) Read(p []byte) (int, error) {
	if b.drained {
		time.Sleep(batchWait)
	}
	n, err := b.f.Read(p)
	b.drained = n < min(shortRead, len(p))
	return n, err
}
