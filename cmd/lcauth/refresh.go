package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of refresh): replace this placeholder; it must not land.
func runRefresh(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("refresh: not built yet")
}
