//go:build !linux

package copier

import "context"

// lander is Linux only (sync_file_range): elsewhere a file's last windows
// are settled by the barrier.
type lander struct{}

func startLander(ctx context.Context, e *engine) *lander { return nil }
func (l *lander) holding() int64                         { return 0 }
func (l *lander) stop()                                  {}
func (c *fileCopy) handOff() error                       { return nil }
