package durable

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
