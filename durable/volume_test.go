package durable

import (
	"errors"
	"testing"
)

// TestVolumeFailureNotByLetter: a failed flush of a whole volume stays
// with that volume, not with its drive letter. Another stick given the
// same letter flushes on its own; the failed one keeps failing; a volume
// that could not be identified has its failure told, never kept.
func TestVolumeFailureNotByLetter(t *testing.T) {
	lost := errors.New("the device did not take the flush")
	ok := func() error { return nil }
	fail := func() error { return lost }

	first := volumeKey(`\\?\Volume{6f1a0c3e-0000-0000-0000-100000000000}\`, 0x1234abcd, true)
	if err := flushOnce(first, "syncfs", `E:\`, fail); !errors.Is(err, lost) {
		t.Fatalf("first stick's flush: %v, want %v", err, lost)
	}
	second := volumeKey(`\\?\Volume{6f1a0c3e-0000-0000-0000-200000000000}\`, 0x9876fedc, true)
	if err := flushOnce(second, "syncfs", `E:\`, ok); err != nil {
		t.Errorf("a second stick at the same letter fails with the first one's error: %v", err)
	}
	// The same volume back (same GUID path and serial): its failure stands.
	again := volumeKey(`\\?\Volume{6f1a0c3e-0000-0000-0000-100000000000}\`, 0x1234abcd, true)
	if err := flushOnce(again, "syncfs", `E:\`, ok); !errors.Is(err, lost) {
		t.Errorf("the failed volume flushed again: %v, want its earlier %v", err, lost)
	}
	// A clone (dd of the same image) has the same serial but its own GUID path.
	clone := volumeKey(`\\?\Volume{6f1a0c3e-0000-0000-0000-300000000000}\`, 0x1234abcd, true)
	if err := flushOnce(clone, "syncfs", `E:\`, ok); err != nil {
		t.Errorf("a clone of the failed stick inherits its failure: %v", err)
	}

	unknown := volumeKey("", 0, false)
	if unknown != nil {
		t.Fatalf("volumeKey of nothing known = %v, want nil", unknown)
	}
	if err := flushOnce(unknown, "syncfs", `F:\`, fail); !errors.Is(err, lost) {
		t.Errorf("unidentified volume's flush: %v, want %v", err, lost)
	}
	if err := flushOnce(volumeKey("", 0, false), "syncfs", `F:\`, ok); err != nil {
		t.Errorf("an unidentified volume's failure was kept for whatever comes next: %v", err)
	}
}
