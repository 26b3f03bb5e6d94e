//go:build !unix

package conformance

import "io/fs"

// umask: there is none here; keepsPermBits keeps the mode checks off.
func umask() fs.FileMode { return 0 }
