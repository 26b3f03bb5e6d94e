package reexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const testEnv = "SURE_REEXEC_TEST"

type config struct{ Fail bool }

func TestMain(m *testing.M) {
	Serve(testEnv, "reexec", func(c config) error {
		if c.Fail {
			return errors.New("reexec: asked to fail")
		}
		fmt.Println("served")
		return nil
	})
	os.Exit(m.Run())
}

// TestServe: the re-executed binary serves the configuration it is given
// and exits, with a status that tells a bad configuration from a failed
// server.
func TestServe(t *testing.T) {
	for _, c := range []struct {
		env  string
		code int
		out  string
	}{
		{`{}`, 0, "served"},
		{`{"Fail":true}`, 1, "reexec: asked to fail"},
		{`{`, 2, "reexec: bad " + testEnv + ": "},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), testEnv+"="+c.env)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.HasPrefix(string(out), c.out) {
			t.Errorf("%s: exit %d, %q; want %d, %q...", c.env, code, out, c.code, c.out)
		}
	}
}
