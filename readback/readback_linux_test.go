//go:build linux

package readback_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/internal/vstick"
	"github.com/sure-tools/sure/lab/vdisk"
	"github.com/sure-tools/sure/readback"
)

// TestSeesWhatTheStickHolds writes a file to a virtual stick that flips
// bits in what it stores, makes the file durable, and reads it back. A
// plain read is served from the caches and returns what was written; the
// read-back reaches the stick and returns the flipped bits. On FUSE file
// systems the device's own cache is in the way too: read back before
// Invalidate, the file still looks intact.
func TestSeesWhatTheStickHolds(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			data := make([]byte, 4<<20)
			rand.NewChaCha8([32]byte{1}).Read(data)
			name := filepath.Join(s.Dir, "f")
			s.Faults(t, vdisk.Faults{FlipEvery: 4})
			writeDurable(t, name, data)
			s.Faults(t, vdisk.Faults{})
			if st, _ := s.Disk.Stats(); st.BitFlips == 0 {
				t.Fatalf("the stick flipped no bit: %+v", st)
			}

			if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("a cached read differs already (%v): the test cannot tell a read-back from a cached read", err)
			}
			r := readback.New()
			m, _ := fsinfo.ForPath(s.Dir)
			if m.IsFUSE() {
				var before bytes.Buffer
				_, err := r.Copy(&before, name)
				t.Logf("%s: read back before Invalidate: equal=%v err=%v (expected equal: the device's cache)", kind, bytes.Equal(before.Bytes(), data), err)
			}
			if err := r.Invalidate(name); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			n, err := r.Copy(&got, name)
			if err == nil && n == int64(len(data)) && bytes.Equal(got.Bytes(), data) {
				t.Fatal("read back intact although the stick flipped bits in it")
			}
			t.Logf("%s: read back %d bytes, err=%v: differs from what was written, as the stick holds it", kind, n, err)
		})
	}
}

// TestReadsBackIntactFiles: on a healthy stick the read-back returns what
// was written, on every file system, for sizes around O_DIRECT's
// alignment.
func TestReadsBackIntactFiles(t *testing.T) {
	for _, kind := range fsimage.Kinds {
		t.Run(kind, func(t *testing.T) {
			s := vstick.New(t, kind, 0)
			r := readback.New()
			rng := rand.NewChaCha8([32]byte{2})
			for _, size := range []int{0, 1, 511, 4096, 4097, 1<<20 + 3, 3 << 20} {
				data := make([]byte, size)
				rng.Read(data)
				name := filepath.Join(s.Dir, "f"+string(rune('a'+size%26)))
				writeDurable(t, name, data)
				if err := r.Invalidate(name); err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				n, err := r.Copy(&got, name)
				if err != nil || n != int64(size) || !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("size %d: read back %d bytes, err %v, equal %v", size, n, err, bytes.Equal(got.Bytes(), data))
				}
			}
		})
	}
}

// writeDurable writes data to name through sure's own durable path, which
// on FUSE sticks also flushes the device under the server.
func writeDurable(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := durable.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := fsinfo.ForPath(filepath.Dir(name))
	if err != nil {
		t.Fatal(err)
	}
	if dev, ok := fsinfo.BackingDevice(m); ok {
		if err := durable.SyncPath(dev); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRefusesFUSEWithoutDevice: a FUSE file system with no block device
// under it (the vdisk's own mount is one) is not read back: its server
// could answer from memory.
func TestRefusesFUSEWithoutDevice(t *testing.T) {
	fsimage.Require(t, "exfat")
	d, err := vdisk.Start(vdisk.Config{Dir: t.TempDir(), Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := readback.New()
	err = r.Invalidate(d.Image)
	if err == nil {
		t.Fatal("Invalidate accepted a FUSE file system with no device under it")
	}
	if _, err := r.Copy(&bytes.Buffer{}, d.Image); err == nil {
		t.Fatal("Copy read back from a FUSE file system with no device under it")
	}
	t.Log(err)
}
