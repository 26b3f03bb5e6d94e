// Package proc reads facts about processes from Linux's /proc.
package proc

import (
	"bytes"
	"os"
	"strconv"
)

// Alive reports whether pid runs. A zombie (exited, not yet reaped by
// whoever adopted it) counts as gone: it has done all it will do, and a
// FUSE server in that state writes nothing more to its device.
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
