//go:build !linux

package gen

import "errors"

func exchange(a, b string) error { return errors.New("no atomic exchange on this system") }
