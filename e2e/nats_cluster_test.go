package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"livevote/shared/poll"
)

// natsNode is one server of a NATS cluster of the test's own.
type natsNode struct {
	*server
	monitor int
}

// natsCluster starts n nats-server processes from nats.conf (the
// contract's users, with the passwords of c) on free loopback ports, routed
// to each other, and waits until every node has a route to every other.
func natsCluster(t *testing.T, c *cluster, n int) []*natsNode {
	t.Helper()
	conf, err := filepath.Abs("../nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*natsNode, n)
	routePorts := make([]int, n)
	for i := range nodes {
		nodes[i] = &natsNode{server: &server{t: t, name: fmt.Sprintf("nats-%d", i), port: freePort(t)}, monitor: freePort(t)}
		routePorts[i] = freePort(t)
	}
	for i, node := range nodes {
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		args := []string{"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(node.port), "-m", strconv.Itoa(node.monitor),
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]),
			"--routes", strings.Join(routes, ","), "--cluster_name", "lv"}
		node.start = func() *exec.Cmd {
			cmd := exec.Command("nats-server", args...)
			cmd.Env = append(os.Environ(),
				"NATS_WORKER_PASSWORD="+c.natsPasswords["worker"],
				"NATS_RESULT_PASSWORD="+c.natsPasswords["result"])
			return cmd
		}
		node.up()
		t.Cleanup(node.kill)
	}
	for _, node := range nodes {
		waitFor(t, 20*time.Second, node.name+"'s routes", func() bool {
			var rz struct {
				NumRoutes int `json:"num_routes"`
			}
			return node.monitorGet("/routez", &rz) == nil && rz.NumRoutes == n-1
		})
	}
	return nodes
}

// monitorGet decodes one monitoring endpoint of the node into v.
func (n *natsNode) monitorGet(path string, v any) error {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", n.monitor, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// clients names the clients connected to the node (nats.Name).
func (n *natsNode) clients() []string {
	var cz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if n.monitorGet("/connz", &cz) != nil {
		return nil
	}
	var names []string
	for _, c := range cz.Connections {
		names = append(names, c.Name)
	}
	return names
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func natsURLsAs(c *cluster, user string, nodes ...*natsNode) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, c.natsPasswords[user], n.port)
	}
	return strings.Join(urls, ",")
}

// TestChaosNATSCluster runs the system over three routed NATS servers: the
// worker knows all three, each of two result servers knows a different
// single one. Under load the node that both the worker and the first
// result server are connected to is killed (kill -9) for good. Every
// acknowledged vote is in PostgreSQL, and every result server and every
// open WebSocket converges on the database's tally of every poll within
// the result servers' reload period. The gap (from the kill until the
// first result server shows a newer tally than before it) and the tallies
// each result server missed on NATS are logged.
func TestChaosNATSCluster(t *testing.T) {
	ch := newChaos(t)
	// The suite's single NATS is not used here.
	ch.c.nats.kill()
	nodes := natsCluster(t, ch.c, 3)
	ch.e.natsURL = strings.Join([]string{nodes[0].url(), nodes[1].url(), nodes[2].url()}, ",")

	worker := ch.e.start("worker", "NATS_URL="+natsURLsAs(ch.c, "worker", nodes...))
	worker.waitReady()
	ch.workers = []*proc{worker}
	var doomed *natsNode
	waitFor(t, 10*time.Second, "the worker on a NATS node", func() bool {
		for _, n := range nodes {
			for _, name := range n.clients() {
				if name == "worker" {
					doomed = n
					return true
				}
			}
		}
		return false
	})
	var survivor *natsNode
	for _, n := range nodes {
		if n != doomed {
			survivor = n
			break
		}
	}
	// The first result server shares the worker's node; the second is on
	// another one, which survives.
	for _, n := range []*natsNode{doomed, survivor} {
		r := ch.e.start("result", "NATS_URL="+natsURLsAs(ch.c, "result", n))
		r.waitReady()
		ch.results = append(ch.results, r)
	}
	ch.votes = []*proc{ch.e.start("vote")}
	ch.watch()
	hit := ch.results[0]

	var gap time.Duration
	ch.during(chaosScale(6*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		if !sleepCtx(ctx, chaosScale(2*time.Second, 5*time.Second)) {
			return
		}
		before := tallyVersion(t, hit, poll.DefaultID)
		killed := time.Now()
		doomed.kill()
		ch.kills++
		// Polled while the load goes on: a newer tally of the default poll
		// comes by NATS once the result server is connected to another
		// node, or by its reload.
		for time.Since(killed) < 15*time.Second {
			if tallyVersion(t, hit, poll.DefaultID) > before {
				gap = time.Since(killed)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("result server on the killed node showed no newer tally within 15s of the kill")
	})
	took := ch.converge(feedReloadEvery)

	published := metric(t, worker, "worker_tallies_published_total")
	var missed []string
	for i, r := range ch.results {
		got := metric(t, r, "result_tallies_received_total")
		missed = append(missed, fmt.Sprintf("result %d: %.0f of %.0f received (%.0f reconnections)",
			i, got, published, metric(t, r, "result_nats_reconnects_total")))
	}
	if n := metric(t, hit, "result_nats_reconnects_total"); n < 1 {
		t.Errorf("the result server on the killed node counted %v NATS reconnections, want at least 1", n)
	}
	for _, p := range []*proc{worker, hit} {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, "nats reconnected") {
				t.Logf("%s: %s", p.name, line)
			}
		}
	}
	ch.report(fmt.Sprintf("NATS cluster of 3, the worker's and a result server's node killed (gap %v until a newer tally; %s)",
		gap.Round(time.Millisecond), strings.Join(missed, "; ")), took)
}

// feedReloadEvery is the result servers' reload period (feed.ReloadEvery,
// internal to the result module).
const feedReloadEvery = 10 * time.Second

// tallyVersion is the version of a poll's tally on a result server.
func tallyVersion(t *testing.T, r *proc, pollID string) int64 {
	t.Helper()
	p := chaosPoll{id: pollID}
	resp, err := http.Get(r.url(p.tallyPath()))
	if err != nil {
		t.Errorf("%s %s: %v", r.name, p.tallyPath(), err)
		return -1
	}
	defer resp.Body.Close()
	var tl struct {
		Version int64 `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil {
		t.Errorf("%s %s: %v", r.name, p.tallyPath(), err)
		return -1
	}
	return tl.Version
}
