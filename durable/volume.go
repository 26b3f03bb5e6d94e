package durable

import "os"

// volumeID names a volume for the failures remembered of it: by its
// volume GUID path (\\?\Volume{...}\) and the serial number its file
// system was given when formatted, never by its drive letter, which the
// next stick plugged in may get.
type volumeID struct {
	guid   string
	serial uint32
}

// volumeKey is the key of a volume whose GUID path and serial number were
// asked for; nil when neither is known. A failure is then not remembered
// at all: forgetting it cannot fail another stick, remembering it under a
// drive letter would.
func volumeKey(guid string, serial uint32, serialKnown bool) any {
	if guid == "" && !serialKnown {
		return nil
	}
	return volumeID{guid: guid, serial: serial}
}

// flushOnce runs flush unless an earlier flush of key failed, and keeps
// its failure for key: data written before a failed flush is lost even
// when the next flush succeeds.
func flushOnce(key any, op, path string, flush func() error) error {
	if err := earlierFailure(key); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return rememberFailure(key, &os.PathError{Op: op, Path: path, Err: err})
	}
	return nil
}
