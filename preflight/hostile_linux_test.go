package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/preflight"
)

// A name exFAT holds (100 characters) can be longer in bytes (300) than
// ext4 takes (255): refused before anything is written, with the reason,
// instead of failing with "file name too long" halfway; skipped or
// shortened on request.
func TestNameOverByteLimit(t *testing.T) {
	src := fsimage.ForTest(t, "exfat")
	dst := fsimage.ForTest(t, "ext4")
	long := strings.Repeat("日", 100) + ".txt"
	if err := os.WriteFile(filepath.Join(src.Dir, long), []byte("long"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.Dir, "ok.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tree := filepath.Join(dst.Dir, "t")

	_, err := copier.Copy(ctx, []string{src.Dir + "/"}, tree, copier.Options{Recursive: true})
	r := refusal(t, err)
	if !slices.Equal(reasons(r), []preflight.Reason{preflight.BadName}) ||
		!strings.Contains(r.Error(), "the name is 304 bytes long; ext4 allows 255") {
		t.Errorf("want one name over ext4's limit, got:\n%v", r)
	}
	if _, err := os.Stat(tree); err == nil {
		t.Errorf("%s exists after a refusal", tree)
	}

	sum, err := copier.Copy(ctx, []string{src.Dir + "/"}, tree, copier.Options{Recursive: true, SkipInvalid: true})
	if err != nil || sum.Skipped != 1 {
		t.Fatalf("--skip-invalid: %+v, %v", sum, err)
	}
	if got := names(t, tree); !slices.Equal(got, []string{"ok.txt"}) {
		t.Errorf("--skip-invalid left %q", got)
	}

	renamed := filepath.Join(dst.Dir, "r")
	sum, err = copier.Copy(ctx, []string{src.Dir + "/"}, renamed, copier.Options{Recursive: true, RenameInvalid: true})
	if err != nil || len(sum.Preflight.Renamed) != 1 {
		t.Fatalf("--rename-invalid: %+v, %v", sum, err)
	}
	to := sum.Preflight.Renamed[0].To
	if b := filepath.Base(to); len(b) > 255 || !strings.HasSuffix(b, "日.txt") {
		t.Errorf("renamed to %q (%d bytes), want at most 255 bytes, extension kept", b, len(b))
	}
	if b, err := os.ReadFile(to); err != nil || string(b) != "long" {
		t.Errorf("%s: %q, %v", to, b, err)
	}
}

// Bytes that are not UTF-8 cannot be stored on exFAT: refused, named
// escaped (never raw), or renamed with '_' for each bad byte.
func TestNonUTF8NameOnExfat(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	src := filepath.Join(t.TempDir(), "n")
	os.Mkdir(src, 0o755)
	if err := os.WriteFile(filepath.Join(src, "caf\xe9\xff.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{Recursive: true})
	r := refusal(t, err)
	msg := r.Error()
	if strings.Contains(msg, "\xe9") || !strings.Contains(msg, `caf\xe9\xff.txt"`) || !strings.Contains(msg, "not valid UTF-8") {
		t.Errorf("the refusal does not name the file escaped:\n%q", msg)
	}
	sum, err := copier.Copy(context.Background(), []string{src}, m.Dir, copier.Options{Recursive: true, RenameInvalid: true})
	if err != nil || sum.Files != 1 {
		t.Fatalf("--rename-invalid: %+v, %v", sum, err)
	}
	if got := names(t, filepath.Join(m.Dir, "n")); !slices.Equal(got, []string{"caf__.txt"}) {
		t.Errorf("renamed to %q, want caf__.txt", got)
	}
}
