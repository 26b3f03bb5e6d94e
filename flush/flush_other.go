//go:build !linux

package flush

import (
	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
)

func syncfsMethod() string { return "flush of the volume" }

// All needs a mount table to know what to flush; outside Linux there is
// none here, and a silent partial flush would be worse than none.
func All() []Result { return AllWith(Options{}) }

// AllWith: see All.
func AllWith(o Options) []Result {
	return []Result{{Mount: fsinfo.Mount{MountPoint: "/"}, Method: "none",
		Err: durable.ErrFSSyncUnsupported}}
}
