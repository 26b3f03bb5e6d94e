package copier

import "github.com/sure-tools/sure/internal/beneath"

// lockStages: atomic jobs are refused on Windows before they get here.
func lockStages(d *beneath.Dir) (unlock func(), err error) { return func() {}, nil }
