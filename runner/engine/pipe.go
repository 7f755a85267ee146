package engine

import (
	"io"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// Pipe sizes and waits of OutputInBatches. Linux lets an unprivileged
// process grow a pipe to 1 MiB (fs.pipe-max-size); a dump tool fills a
// quarter of it in well under a millisecond only past 1 GB/s.
const (
	outputPipeBytes = 1 << 20
	shortRead       = 128 << 10
	batchWait       = time.Millisecond
)

// OutputInBatches sets cmd's standard output to a pipe of 1 MiB and
// returns its reading end, which reads in batches. pg_dump writes its
// archive 4 KiB at a time; a reader that takes each write as it comes
// sleeps and is woken, and wakes the tool, a quarter of a million times
// per GiB, and on a virtual machine those context switches cost more CPU
// than the copying (a third of the runner's in a backup's profile). After
// a read that drained the pipe, the next one waits a millisecond for it
// to fill, so the tool writes without waiting nor waking anyone. Where the
// pipe cannot grow, reads are plain. Call it before cmd.Start; read to the
// end before cmd.Wait, which closes the pipe.
func OutputInBatches(cmd *exec.Cmd) (io.Reader, error) {
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
