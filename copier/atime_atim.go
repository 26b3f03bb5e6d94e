//go:build linux || openbsd

package copier

import "syscall"

func statAtime(st *syscall.Stat_t) *syscall.Timespec { return &st.Atim }
