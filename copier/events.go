package copier

// Progress is an optional extension of Events: when the Events value also
// implements it, it hears the job's bytes climb the guarantee ladder (the
// README's L0 to L3). Calls may come from several goroutines, never at once.
// Nothing here ever counts a byte before it reached the level named.
type Progress interface {
	// Planned: the whole job holds this many files and bytes (from the
	// pre-flight walk, before anything is written): files are those it
	// will report Durable, regular files and symlinks, renamed or copied;
	// bytes are those it will write.
	Planned(files int, bytes int64)
	// Copying: a worker started writing dst (size bytes) under its
	// temporary name.
	Copying(src, dst string, size int64)
	// OnDevice: n more bytes of dst finished writeback (level L1: in the
	// drive, perhaps only in its volatile cache).
	OnDevice(dst string, n int64)
	// Flushing: a barrier is under way that makes files staged so far
	// durable (the drive is told to flush its cache); Durable events
	// follow for each of them (on fusefat only after the job's last
	// barrier).
	Flushing(files int, bytes int64)
}

// Verifier is an optional extension of Events for jobs with
// Options.Verify: it hears the read-back of each durable file (level L3).
type Verifier interface {
	// Verified: dst was read back from the device and matches src.
	Verified(src, dst string, size int64)
	// Mismatch: dst as read back from the device differs from src, or
	// could not be read back; err says which.
	Mismatch(src, dst string, err error)
}
