//go:build surelab_nowait

package commit

// skipLandedWait, in the lab's build alone (go build -tags surelab_nowait),
// renames files before their only barrier without waiting for their data
// to land, and then commits the file system's journal at once (an fsync
// of the directories), as its commit timer or another program's fsync
// may at that instant: the protocol with the wait dropped, which the
// crash lab must catch (lab/powercut). The writer then starts no
// writeback of its own either (SkipLandedWait), so that what was not
// waited for has certainly not landed.
const skipLandedWait = true

// SkipLandedWait is true in the lab's build without the wait.
const SkipLandedWait = skipLandedWait
