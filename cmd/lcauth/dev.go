package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of dev): replace this placeholder; it must not land.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("dev: not built yet")
}
