//go:build !surelab_nowait

package commit

// skipLandedWait is false in every build of sure: see nowait_lab.go.
const skipLandedWait = false

// SkipLandedWait tells the writer of the data that the lab's build
// without the wait is running (see nowait_lab.go): false here.
const SkipLandedWait = skipLandedWait
