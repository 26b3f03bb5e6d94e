// Package tail cuts a command's output down to its last lines, the part
// worth quoting in an error.
package tail

import "strings"

// Lines is the last n lines of s, without the blank space around them.
func Lines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
