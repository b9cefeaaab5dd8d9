package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of serve): replace this placeholder; it must not land.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("serve: not built yet")
}
