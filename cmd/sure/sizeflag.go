package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sure-tools/sure/internal/units"
)

// byteSize is a flag value holding a size such as 64M, 512KiB or 1G
// (binary units, as dd and sort -S read them; a plain number is bytes).
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil || *b.p == 0 {
		return ""
	}
	return units.Bytes(*b.p)
}

func (b byteSize) Type() string { return "SIZE" }

func (b byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b.p = n
	return nil
}

// parseByteSize reads a number with an optional K, M, G or T suffix
// (KiB, KB and k mean the same: 1024).
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	suffix := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	switch {
	case len(suffix) == 3 && strings.HasSuffix(suffix, "IB"):
		suffix = suffix[:1]
	case len(suffix) <= 2:
		suffix = strings.TrimSuffix(suffix, "B")
	}
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[suffix]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 0 || n > (1<<62)>>sh {
		return 0, fmt.Errorf("%q is not a size (examples: 65536, 512K, 64M, 1G)", s)
	}
	return n << sh, nil
}
