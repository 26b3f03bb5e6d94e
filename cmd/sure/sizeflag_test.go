package main

import "testing"

func TestParseByteSize(t *testing.T) {
	for s, want := range map[string]int64{
		"65536": 65536, "512K": 512 << 10, "512k": 512 << 10, "64M": 64 << 20, "64MiB": 64 << 20,
		"64MB": 64 << 20, "1G": 1 << 30, "2T": 2 << 40, "0": 0, "10B": 10,
	} {
		if got, err := parseByteSize(s); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "M", "lots", "1X", "-1M", "1.5M", "99999999T", "5i", "1KIBB"} {
		if got, err := parseByteSize(s); err == nil {
			t.Errorf("parseByteSize(%q) = %d, want an error", s, got)
		}
	}
}
