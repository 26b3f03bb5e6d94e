//go:build !linux && !darwin && !windows

package eject

import "context"

// Other systems get no direct path yet: there is nothing to need root for.
const needsRoot = false

// Eject is not implemented on this system.
func Eject(ctx context.Context, arg string, opts Options) (string, error) {
	return "", ErrUnsupported
}
