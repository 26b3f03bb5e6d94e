package durable_test

import "io/fs"

// umask: Windows has none; hasPermBits keeps the mode check off there.
func umask() fs.FileMode { return 0 }
