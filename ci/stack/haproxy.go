package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Backend and server names in ci/stack/templates/haproxy.cfg.tmpl.
const (
	Backend      = "shortener"
	ServerStable = "stable"
	ServerCanary = "canary"
)

// HAProxy talks to HAProxy's runtime API over its stats socket: weights,
// addresses and states change there without a reload, so no connection is
// dropped while traffic shifts.
//
// ServerStable names a group: the servers "stable", "stable-2", ... one
// per stable replica. SetWeight, SetState, WaitUp, WaitIdle and Point act
// on all of them, so the pipeline treats a stable of any size as one.
type HAProxy struct {
	Socket string
}

// stableServerName is the server of stable replica k (from 0).
func stableServerName(k int) string {
	if k == 0 {
		return ServerStable
	}
	return fmt.Sprintf("%s-%d", ServerStable, k+1)
}

// group returns the servers a name stands for: every stable replica's
// server for ServerStable, in replica order; the name itself otherwise.
func (h HAProxy) group(ctx context.Context, server string) ([]string, error) {
	if server != ServerStable {
		return []string{server}, nil
	}
	st, err := h.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := 0; ; k++ {
		name := stableServerName(k)
		if _, ok := st[name]; !ok {
			break
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("haproxy: no %q server in backend %s", ServerStable, Backend)
	}
	return out, nil
}

// each runs fn for every server of the group server stands for.
func (h HAProxy) each(ctx context.Context, server string, fn func(name string, k int) error) error {
	names, err := h.group(ctx, server)
	if err != nil {
		return err
	}
	for k, n := range names {
		if err := fn(n, k); err != nil {
			return err
		}
	}
	return nil
}

// CanaryWeights returns the weights that give the canary pct percent of
// requests beside n stable servers: each stable server 100-pct, the canary
// n*pct, scaled down to HAProxy's maximum of 256.
func CanaryWeights(n, pct int) (stable, canary int) {
	stable, canary = 100-pct, n*pct
	if canary > 256 {
		stable = (stable*256 + canary/2) / canary
		canary = 256
	}
	return stable, canary
}

// SetCanaryShare gives the canary pct percent of new requests, whatever
// the number of stable servers. It raises before it lowers, so at no
// moment are all weights 0.
func (h HAProxy) SetCanaryShare(ctx context.Context, pct int) error {
	names, err := h.group(ctx, ServerStable)
	if err != nil {
		return err
	}
	sw, cw := CanaryWeights(len(names), pct)
	if pct >= 50 {
		if err := h.SetWeight(ctx, ServerCanary, cw); err != nil {
			return err
		}
		return h.SetWeight(ctx, ServerStable, sw)
	}
	if err := h.SetWeight(ctx, ServerStable, sw); err != nil {
		return err
	}
	return h.SetWeight(ctx, ServerCanary, cw)
}

// Command sends one runtime API command and returns its answer.
func (h HAProxy) Command(ctx context.Context, cmd string) (string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "unix", h.Socket)
	if err != nil {
		return "", fmt.Errorf("haproxy runtime api: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy %q: %w", cmd, err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("haproxy %q: %w", cmd, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// set runs a command whose success answer is empty or one of okPrefixes.
func (h HAProxy) set(ctx context.Context, cmd string, okPrefixes ...string) error {
	out, err := h.Command(ctx, cmd)
	if err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	for _, p := range okPrefixes {
		if strings.HasPrefix(out, p) {
			return nil
		}
	}
	return fmt.Errorf("haproxy %q: %s", cmd, out)
}

// SetWeight sets a server's weight (0..256). Weight 0 takes it out of the
// rotation; requests already on it finish.
func (h HAProxy) SetWeight(ctx context.Context, server string, weight int) error {
	return h.each(ctx, server, func(name string, _ int) error {
		return h.set(ctx, fmt.Sprintf("set weight %s/%s %d", Backend, name, weight))
	})
}

// Point changes where a server sends traffic and health checks: the
// stable group's k-th server to the slot's k-th replica.
func (h HAProxy) Point(ctx context.Context, server string, s Slot) error {
	names, err := h.group(ctx, server)
	if err != nil {
		return err
	}
	eps := s.Endpoints(len(names))
	if len(eps) < len(names) {
		return fmt.Errorf("slot %s has %d replica addresses for %d %s servers", s.Name, len(eps), len(names), server)
	}
	for k, name := range names {
		host, port, err := net.SplitHostPort(eps[k].Addr)
		if err != nil {
			return err
		}
		_, aport, err := net.SplitHostPort(eps[k].AdminAddr)
		if err != nil {
			return err
		}
		if err := h.set(ctx, fmt.Sprintf("set server %s/%s addr %s port %s", Backend, name, host, port),
			"IP changed", "no need to change", "port changed", "IP changed from"); err != nil {
			return err
		}
		if err := h.set(ctx, fmt.Sprintf("set server %s/%s check-port %s", Backend, name, aport), "health check port updated"); err != nil {
			return err
		}
	}
	return nil
}

// SetState puts a server in "ready", "drain" or "maint".
func (h HAProxy) SetState(ctx context.Context, server, state string) error {
	return h.each(ctx, server, func(name string, _ int) error {
		return h.set(ctx, fmt.Sprintf("set server %s/%s state %s", Backend, name, state))
	})
}

// ServerState is one row of `show servers state`.
type ServerState struct {
	Name       string
	Addr       string
	Port       int
	CheckPort  int
	OpState    int // 0 stopped, 1 starting, 2 running, 3 stopping
	AdminState int // bit 0x01/0x20: maintenance
	Weight     int
}

// Up reports whether the server is running and not in maintenance.
func (s ServerState) Up() bool { return s.OpState == 2 && s.AdminState&0x3f == 0 }

// Servers returns the state of the backend's servers.
func (h HAProxy) Servers(ctx context.Context) (map[string]ServerState, error) {
	out, err := h.Command(ctx, "show servers state "+Backend)
	if err != nil {
		return nil, err
	}
	return parseServersState(out)
}

// parseServersState reads the format-1 dump: a version line, a "# header"
// line naming the columns, then one row per server.
func parseServersState(out string) (map[string]ServerState, error) {
	var cols []string
	res := map[string]ServerState{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "1":
			continue
		case strings.HasPrefix(line, "#"):
			cols = strings.Fields(strings.TrimPrefix(line, "#"))
			continue
		}
		if cols == nil {
			return nil, fmt.Errorf("haproxy servers state: no header before %q", line)
		}
		f := strings.Fields(line)
		get := func(name string) string {
			for i, c := range cols {
				if c == name && i < len(f) {
					return f[i]
				}
			}
			return ""
		}
		atoi := func(name string) int { n, _ := strconv.Atoi(get(name)); return n }
		s := ServerState{
			Name:       get("srv_name"),
			Addr:       get("srv_addr"),
			Port:       atoi("srv_port"),
			CheckPort:  atoi("srv_check_port"),
			OpState:    atoi("srv_op_state"),
			AdminState: atoi("srv_admin_state"),
			Weight:     atoi("srv_uweight"),
		}
		if s.Name == "" {
			return nil, fmt.Errorf("haproxy servers state: unexpected line %q", line)
		}
		res[s.Name] = s
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("haproxy servers state: no servers in %q", out)
	}
	return res, nil
}

// WaitUp waits until HAProxy's health checks see the server (every server
// of the stable group) up.
func (h HAProxy) WaitUp(ctx context.Context, server string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		names, err := h.group(ctx, server)
		var st map[string]ServerState
		down := server
		if err == nil {
			st, err = h.Servers(ctx)
		}
		if err == nil {
			down = ""
			for _, n := range names {
				if !st[n].Up() {
					down = n
					break
				}
			}
			if down == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("haproxy server %s not up after %s (state %+v, err %v)", down, timeout, st[down], err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitIdle waits until the server (every server of the stable group) has
// no request in flight (HAProxy's current sessions drop to 0), or the
// timeout passes.
func (h HAProxy) WaitIdle(ctx context.Context, server string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		n, err := h.currentSessions(ctx, server)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("haproxy server %s still has %d sessions after %s (err %v)", server, n, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// currentSessions adds up scur of the servers server stands for, from
// `show stat`.
func (h HAProxy) currentSessions(ctx context.Context, server string) (int, error) {
	names, err := h.group(ctx, server)
	if err != nil {
		return 0, err
	}
	st, err := h.Stats(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, name := range names {
		row, ok := st[Backend+"/"+name]
		if !ok {
			return 0, fmt.Errorf("haproxy show stat: no row for %s/%s", Backend, name)
		}
		n, err := strconv.Atoi(row["scur"])
		if err != nil {
			return 0, fmt.Errorf("haproxy show stat: scur of %s/%s: %w", Backend, name, err)
		}
		total += n
	}
	return total, nil
}

// Stats returns `show stat` (CSV) as rows keyed "proxy/server" (servers,
// plus "proxy/BACKEND" and "proxy/FRONTEND"), each a column -> value map.
func (h HAProxy) Stats(ctx context.Context) (map[string]map[string]string, error) {
	out, err := h.Command(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("haproxy show stat: unexpected answer %.200q", out)
	}
	header := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	res := map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) < 2 {
			continue
		}
		row := map[string]string{}
		for i, c := range header {
			if i < len(f) && c != "" {
				row[c] = f[i]
			}
		}
		res[f[0]+"/"+f[1]] = row
	}
	return res, nil
}
