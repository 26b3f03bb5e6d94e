package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version is set by the linker (-ldflags "-X main.version=...") in builds
// that carry their own; otherwise the build info the go command embeds
// says which module version and commit the binary comes from.
var version = ""

func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionFrom(version, bi)
}

// versionFrom words the version: the module version (v1.2.3 from go
// install ...@v1.2.3, or "devel" for a build in a checkout), then the
// commit, its time and whether the tree had uncommitted changes.
func versionFrom(set string, bi *debug.BuildInfo) string {
	v := set
	if v == "" && bi != nil {
		v = bi.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if bi == nil {
		return v
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		parts = append(parts, "commit "+rev)
	}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "with uncommitted changes")
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) == 0 {
		return v
	}
	return fmt.Sprintf("%s (%s)", v, strings.Join(parts, ", "))
}

// moduleVersion is the version alone, for man page headers.
func moduleVersion() string {
	v, _, _ := strings.Cut(versionString(), " ")
	return v
}
