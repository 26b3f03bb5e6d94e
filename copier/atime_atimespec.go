//go:build darwin || freebsd || netbsd

package copier

import "syscall"

func statAtime(st *syscall.Stat_t) *syscall.Timespec { return &st.Atimespec }
