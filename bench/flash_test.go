//go:build linux

package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestFlashBench runs the flash part (sure write; see flash.go), the same
// as `go run ./bench -only flash`. It is heavy, so it runs only when asked:
//
//	SURE_BENCH_FLASH=1 go test -run TestFlashBench -v -timeout 1h ./bench/
//
// SURE_BENCH_FLASH_SIZE sets the image's size (default 2 GiB),
// SURE_BENCH_FLASH_TOOLS the commands (-flash-tools keys, such as
// sure-xz,old-xz for the xz case alone), SURE_BENCH_FLASH_OLD an older
// sure to compare with, SURE_BENCH_FLASH_IMAGE a directory to keep the
// image in for the next run, SURE_BENCH_FLASH_RUNS the runs per command
// (default 1).
func TestFlashBench(t *testing.T) {
	if os.Getenv("SURE_BENCH_FLASH") == "" {
		t.Skip("set SURE_BENCH_FLASH=1 to run the sure write benchmark")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	args := []string{"-only", "flash", "-n", "1"}
	for env, flag := range map[string]string{
		"SURE_BENCH_FLASH_SIZE":  "-flash-size",
		"SURE_BENCH_FLASH_TOOLS": "-flash-tools",
		"SURE_BENCH_FLASH_OLD":   "-flash-old",
		"SURE_BENCH_FLASH_IMAGE": "-flash-image",
		"SURE_BENCH_FLASH_RUNS":  "-n",
	} {
		if v := os.Getenv(env); v != "" {
			args = append(args, flag, v)
		}
	}
	c, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	c.log = testLog{t}
	r, err := run(context.Background(), c)
	if r != nil {
		t.Logf("\n%s", r.markdown())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range r.flash.rows {
		if row.err != "" {
			t.Errorf("%s: %s", row.tool.name, row.err)
		}
	}
	if !strings.Contains(r.markdown(), "sure write") {
		t.Error("the report has no sure write table")
	}
}
