package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8/decor"
)

// The file being copied is named in the progress line and on the bar
// escaped: a name from a stick can neither act on the terminal nor forge
// a line.
func TestProgressEscapesName(t *testing.T) {
	const name = "dst/x\x1b[2J\nsure: 0 failed"
	var b bytes.Buffer
	pv := &plainView{w: &b, verb: "cp", every: time.Hour}
	pv.update(&progressState{current: name})
	bv := &barView{s: progressState{current: name}}
	for what, got := range map[string]string{"line": strings.TrimSuffix(b.String(), "\n"), "bar": bv.tail(decor.Statistics{})} {
		if strings.ContainsAny(got, "\x1b\n") {
			t.Errorf("%s %q holds the raw name", what, got)
		}
		if !strings.Contains(got, `x\x1b[2J\nsure: 0 failed`) {
			t.Errorf("%s %q does not name the file escaped", what, got)
		}
	}
}
