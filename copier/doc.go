// Package copier copies files and trees with cp's conventions and publishes
// every file through the commit protocol (package commit): a file is
// reported only once it is durable under its final name.
//
// Copy and Move describe a job (jobspec.go); copyJob (copier.go) checks it,
// starts the workers and the flusher, and takes each file through five
// stages, each in its own file:
//
//   - read (walk.go): the operands and their trees are walked, and each
//     entry's fate decided before anything is written: left out (filter.go,
//     preflight.go), kept as it is (compare.go), or copied; directories
//     are made here.
//   - stage (stage.go, data.go): a worker copies a regular file into a
//     temporary file with write-behind (writeback_*.go), keeping holes
//     (sparse_*.go) or sharing extents (clone_*.go), and stages it.
//   - land (land.go, lander_*.go): its bytes are followed to the device,
//     within the job's dirty budget (engine.go, budget.go).
//   - commit (commit.go): barrier steps put staged files under their final
//     names, durably, in batches.
//   - report (report.go, held.go): each outcome is counted and told to
//     Events.
//
// Beside the stages: resume.go and journal.go let a rerun keep what an
// interrupted job finished; verify.go reads copies back and writes
// manifests; move.go renames on one file system and removes the sources
// of what was copied; atomic.go puts a whole tree in place at once;
// delete.go mirrors directories (--delete).
package copier
