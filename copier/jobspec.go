package copier

import (
	"github.com/sure-tools/sure/manifest"
	"github.com/sure-tools/sure/preflight"
)

// jobSpec describes one job to the engine: the caller's Options, and what
// Move or a staged tree decided for it, kept out of the public Options.
type jobSpec struct {
	Options

	move      bool             // set by Move: remove each source once its copy is durable
	plan      *preflight.Plan  // set by Move, which checks the whole job once
	told      bool             // set by Move, which told Progress the plan already
	noJournal bool             // a staged tree: its parent's journal is not its own
	man       *manifest.Writer // set by Move, which lists what it renamed too
}
