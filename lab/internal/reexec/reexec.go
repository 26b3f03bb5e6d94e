// Package reexec turns a binary started again by a lab package into that
// package's server: the parent passes the server's configuration as JSON
// in an environment variable.
package reexec

import (
	"encoding/json"
	"fmt"
	"os"
)

// Serve returns at once when env is unset. Otherwise it decodes the
// configuration env holds, runs serve with it and exits: 2 when the
// configuration is bad, 1 when serve fails, 0 when it returns nil. who
// names the package in the messages.
func Serve[C any](env, who string, serve func(C) error) {
	v := os.Getenv(env)
	if v == "" {
		return
	}
	var cfg C
	if err := json.Unmarshal([]byte(v), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: bad %s: %v\n", who, env, err)
		os.Exit(2)
	}
	if err := serve(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
