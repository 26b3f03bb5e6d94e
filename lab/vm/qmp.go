//go:build linux

package vm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// qmpClient speaks qemu's machine protocol: one JSON object a line.
type qmpClient struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

func dialQMP(sock string) (*qmpClient, error) {
	conn, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("vm: qmp %s: %w", sock, err)
	}
	q := &qmpClient{conn: conn, r: bufio.NewReader(conn)}
	if _, err := q.r.ReadBytes('\n'); err != nil { // greeting
		conn.Close()
		return nil, fmt.Errorf("vm: qmp %s: %w", sock, err)
	}
	if _, err := q.execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpClient) close() { q.conn.Close() }

// execute runs one command and returns its "return" value, skipping the
// asynchronous events qemu interleaves.
func (q *qmpClient) execute(cmd string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("vm: qmp %s: %w", cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("vm: qmp %s: %w", cmd, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("vm: qmp %s: %w", cmd, err)
		}
		if resp.Event != "" {
			continue
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("vm: qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		}
		return resp.Return, nil
	}
}

// BlockStats is what qemu counted for a drive.
type BlockStats struct {
	Flushes      int64 `json:"flush_operations"`
	Writes       int64 `json:"wr_operations"`
	WrittenBytes int64 `json:"wr_bytes"`
}

func (q *qmpClient) blockStats(drive string) (BlockStats, error) {
	raw, err := q.execute("query-blockstats", nil)
	if err != nil {
		return BlockStats{}, err
	}
	var all []struct {
		Device string     `json:"device"`
		QDev   string     `json:"qdev"`
		Stats  BlockStats `json:"stats"`
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		return BlockStats{}, fmt.Errorf("vm: query-blockstats: %w", err)
	}
	// A drive of -drive has a name; one added by blockdev-add is known
	// by the device it is attached to.
	for _, d := range all {
		if d.Device == drive || d.Device == "" && (d.QDev == drive+"dev" || strings.HasPrefix(d.QDev, "/machine/peripheral/"+drive+"dev/")) {
			return d.Stats, nil
		}
	}
	return BlockStats{}, fmt.Errorf("vm: query-blockstats: no drive %q", drive)
}
