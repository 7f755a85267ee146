package engine

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOutputInBatchesGrowsThePipeAndLosesNothing(t *testing.T) {
	// 8 MiB in the 4 KiB writes pg_dump makes, numbered so that a lost,
	// repeated or reordered write shows.
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 2048 ]; do printf '%4095d\n' $i; i=$((i+1)); done`)
	out, err := outputInBatches(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// The writing end, which Start hands to the tool and closes here.
	if size, err := unix.FcntlInt(cmd.Stdout.(*os.File).Fd(), unix.F_GETPIPE_SZ, 0); err != nil || size < 1<<20 {
		t.Errorf("the tool writes into a pipe of %d bytes (%v), want 1 MiB", size, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 2048 {
		fmt.Fprintf(&want, "%4095d\n", i)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes, not the %d the tool wrote in order", len(got), want.Len())
	}
}
