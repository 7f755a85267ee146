package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func init() {
	root.AddCommand(&cobra.Command{
		Use:   "scratch-password FILE",
		Short: "Write a new random password for a publish's scratch server into FILE",
		Long: `Write 32 random bytes, hex-encoded, into FILE (mode 0600), replacing it
whole. A publishing job's first init container runs it into a
memory-backed volume: the scratch server beside the runner starts with
that password and the runner reads it (SCRATCH_PASSWORD_FILE), so the
password is made for one pod, kept in no Secret and passed in no
argument.`,
		Args: namedArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writePassword(args[0])
		},
	})
}

// writePassword writes a new password into path through a file beside it
// renamed over it: a reader never sees half of one.
func writePassword(path string) error {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	f, err := os.CreateTemp(filepath.Dir(path), ".password-*")
	if err != nil {
		return fmt.Errorf("scratch-password: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(hex.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("scratch-password: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("scratch-password: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("scratch-password: %w", err)
	}
	return nil
}
