package proc

import (
	"context"
	"net"
)

// StartAttempts is how many times Start tries to start a child.
const StartAttempts = 3

// Start calls start until it succeeds, at most StartAttempts times, or until ctx is done, and returns
// the last error. A child told to listen on a free port (FreePorts) can lose it to another process
// before it binds it; a new attempt with new ports makes that harmless.
func Start[T any](ctx context.Context, start func() (T, error)) (T, error) {
	var zero T
	var lastErr error
	for range StartAttempts {
		v, err := start()
		if err == nil {
			return v, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return zero, lastErr
}

// FreePorts asks the kernel for n distinct free loopback ports. They are free when it returns; a
// child may find one taken by the time it binds it (see Start).
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
