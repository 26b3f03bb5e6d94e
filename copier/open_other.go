//go:build !unix

package copier

import "os"

// openSource opens a file to copy for reading.
func openSource(name string) (*os.File, error) { return os.Open(name) }
