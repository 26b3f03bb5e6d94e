package durable_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestFailureNotInheritedByRemount: a flush fails, the stick is unmounted
// and mounted again on the same loop device (the same device number, the
// same file with its inode number and birth time, as a stick plugged back
// in is). What the failure could have lost went with the old mount's page
// cache: a flush on the new mount is asked again and its success trusted.
func TestFailureNotInheritedByRemount(t *testing.T) {
	stick := vstick.New(t, "ext4", 0)
	name := filepath.Join(stick.Dir, "f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncFile(f); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncDir(stick.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("more"); err != nil {
		t.Fatal(err)
	}
	stick.Faults(t, vdisk.Faults{FailFlush: 1})
	if err := durable.SyncFile(f); !errors.Is(err, unix.EIO) {
		t.Fatalf("SyncFile with the stick failing its flush: %v, want EIO", err)
	}
	f.Close()
	stick.Faults(t, vdisk.Faults{})
	if err := unix.Unmount(stick.Dir, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(stick.Dev, stick.Dir, "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.WriteString("again"); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncFile(g); err != nil {
		t.Errorf("SyncFile on the new mount: %v, want the new flush's success", err)
	}
}
