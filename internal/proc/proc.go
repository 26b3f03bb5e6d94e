// Package proc reads facts about processes and mounts from Linux's /proc:
// the one place sure scans processes, finds FUSE servers and parses the
// mount table.
package proc

// Process is a process and its arguments (in sure doctor --json).
type Process struct {
	PID  int      `json:"pid"`
	Args []string `json:"command"` // argv[0] first
}
