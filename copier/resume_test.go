package copier

import (
	"fmt"
	"testing"

	"github.com/sure-tools/sure/durable"
)

// TestPartialLine reads back the journal line of a step, and refuses a
// torn one, one naming no temporary file, and an ordinary file's line.
func TestPartialLine(t *testing.T) {
	temp := durable.NewTempName()
	line := fmt.Sprintf(partialLine, "dir/big file.iso", temp, "/src/big file.iso", 1, 2, 3, 4, 5, int64(64<<20), uint64(7), uint64(8))
	rel, p, ok := parsePartial(line)
	if !ok || rel != "dir/big file.iso" || p.temp != temp || p.src != "/src/big file.iso" || p.off != 64<<20 ||
		p.s != (fileStamp{dev: 1, ino: 2, size: 3, mtimeNs: 4, ctimeNs: 5}) || p.tail.Hi != 7 || p.tail.Lo != 8 {
		t.Fatalf("parsePartial(%q) = %q, %+v, %v", line, rel, p, ok)
	}
	for _, bad := range []string{
		line[:len(line)-4], // torn
		fmt.Sprintf(partialLine, "a", "not-a-temp", "/a", 1, 2, 3, 4, 5, 1, 7, 8),
		fmt.Sprintf(partialLine, "a", temp, "/a", 1, 2, 3, 4, 5, 0, 7, 8),
		fmt.Sprintf(journalLine, "a", "/a", 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0),
	} {
		if _, _, ok := parsePartial(bad); ok {
			t.Errorf("parsePartial(%q) accepted it", bad)
		}
	}
}
