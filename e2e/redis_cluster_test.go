package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisClusterNodeTimeout is cluster-node-timeout of the test clusters: a
// primary that does not answer for that long is voted failed and its
// replica takes over. Short, so a failover takes a second or two; long
// enough that a busy two-core machine does not fail a healthy node.
const redisClusterNodeTimeout = 1000 * time.Millisecond

// redisCluster is a Redis Cluster of the test's own: primaries and one
// replica each, every node append-only with appendfsync always, on free
// loopback ports, each in its own folder.
type redisCluster struct {
	t     *testing.T
	nodes []*redisNode
}

// redisNode is one redis-server of a redisCluster.
type redisNode struct {
	*server
	bus int
	rdb *redis.Client
}

// addr is the node's host:port.
func (n *redisNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.port) }

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, master string
	port       int
	flags      []string
	// slots are the slot ranges it serves, as CLUSTER NODES writes them
	// ("0-5460", "12000").
	slots []string
}

func (c clusterNode) is(flag string) bool { return slices.Contains(c.flags, flag) }

// failing says whether the node is flagged failed, or possibly failed.
func (c clusterNode) failing() bool { return c.is("fail") || c.is("fail?") }

// serves says whether the node serves slot.
func (c clusterNode) serves(slot int) bool {
	for _, r := range c.slots {
		if strings.HasPrefix(r, "[") { // a slot being migrated
			continue
		}
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && a <= slot && slot <= b {
			return true
		}
	}
	return false
}

// startRedisCluster starts primaries×2 redis-server processes in cluster
// mode, makes a cluster of them with redis-cli --cluster create (one
// replica per primary) and waits until every node sees every slot served
// and every replica in sync. Everything is stopped in t.Cleanup.
func startRedisCluster(t *testing.T, primaries int) *redisCluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found: install redis-tools (apt-get install redis-tools; it comes with redis-server)")
	}
	rc := &redisCluster{t: t}
	root := t.TempDir()
	for i := 0; i < 2*primaries; i++ {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		n := &redisNode{server: &server{t: t, name: fmt.Sprintf("redis-cluster-%d", i), port: freePort(t)}, bus: freePort(t)}
		port, bus := strconv.Itoa(n.port), strconv.Itoa(n.bus)
		n.start = func() *exec.Cmd {
			// nodes.conf lives in the node's folder: a restarted node
			// finds its identity there and rejoins the cluster.
			return exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
				"--cluster-enabled", "yes", "--cluster-port", bus, "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.Itoa(int(redisClusterNodeTimeout/time.Millisecond)),
				"--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
		}
		n.up()
		t.Cleanup(n.kill)
		// No retries: the helpers poll, and a dead node must answer at once.
		n.rdb = redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
			ReadTimeout: time.Second, WriteTimeout: time.Second})
		t.Cleanup(func() { n.rdb.Close() })
		rc.nodes = append(rc.nodes, n)
	}
	args := []string{"--cluster", "create"}
	for _, n := range rc.nodes {
		args = append(args, n.addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, tail(string(out), 30))
	}
	rc.waitHealthy(30 * time.Second)
	return rc
}

// client is a cluster client of the test's own, closed at the end. It
// reloads the slot map every second: go-redis does by itself only on a
// MOVED answer or once a minute, and a killed primary answers nothing.
func (rc *redisCluster) client() *redis.ClusterClient {
	addrs := make([]string, len(rc.nodes))
	for i, n := range rc.nodes {
		addrs[i] = n.addr()
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second})
	rc.t.Cleanup(func() { c.Close() })
	return c
}

// running are the nodes whose process runs.
func (rc *redisCluster) running() []*redisNode {
	var up []*redisNode
	for _, n := range rc.nodes {
		n.mu.Lock()
		alive := n.cmd != nil
		n.mu.Unlock()
		if alive {
			up = append(up, n)
		}
	}
	return up
}

// view is CLUSTER NODES as n sees the cluster.
func (n *redisNode) view() ([]clusterNode, error) {
	out, err := n.rdb.ClusterNodes(context.Background()).Result()
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		// <id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…
		hostPort, _, _ := strings.Cut(f[1], "@")
		_, p, _ := strings.Cut(hostPort, ":")
		port, _ := strconv.Atoi(p)
		nodes = append(nodes, clusterNode{id: f[0], port: port, flags: strings.Split(f[2], ","), master: f[3], slots: f[8:]})
	}
	return nodes, nil
}

// info is one section of INFO (or CLUSTER INFO when section is
// "cluster-info") as a map.
func (n *redisNode) info(section string) (map[string]string, error) {
	var out string
	var err error
	if section == "cluster-info" {
		out, err = n.rdb.ClusterInfo(context.Background()).Result()
	} else {
		out, err = n.rdb.Info(context.Background(), section).Result()
	}
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for line := range strings.SplitSeq(out, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// unhealthy says what keeps the cluster from being whole, or "": every
// running node says cluster_state:ok with all 16,384 slots served, knows
// every node, sees no node failing, as many primaries as the cluster was
// made with and each with a replica; every running replica's link to its
// primary is up and every primary has a replica online (what WAIT needs).
func (rc *redisCluster) unhealthy() string {
	for _, n := range rc.running() {
		ci, err := n.info("cluster-info")
		if err != nil {
			return fmt.Sprintf("%s: CLUSTER INFO: %v", n.name, err)
		}
		if ci["cluster_state"] != "ok" || ci["cluster_slots_ok"] != "16384" || ci["cluster_known_nodes"] != strconv.Itoa(len(rc.nodes)) {
			return fmt.Sprintf("%s: cluster_state %s, slots ok %s, known nodes %s", n.name,
				ci["cluster_state"], ci["cluster_slots_ok"], ci["cluster_known_nodes"])
		}
		view, err := n.view()
		if err != nil {
			return fmt.Sprintf("%s: CLUSTER NODES: %v", n.name, err)
		}
		primaries, replicas := 0, 0
		for _, c := range view {
			if c.failing() {
				return fmt.Sprintf("%s sees node %d as %v", n.name, c.port, c.flags)
			}
			switch {
			case c.is("master") && len(c.slots) > 0:
				primaries++
			case c.is("slave"):
				replicas++
			}
		}
		if want := len(rc.nodes) / 2; primaries != want || replicas != want {
			return fmt.Sprintf("%s sees %d primaries with slots and %d replicas, want %d each", n.name, primaries, replicas, want)
		}
		repl, err := n.info("replication")
		if err != nil {
			return fmt.Sprintf("%s: INFO replication: %v", n.name, err)
		}
		switch repl["role"] {
		case "slave":
			if repl["master_link_status"] != "up" {
				return fmt.Sprintf("%s: replica link %s", n.name, repl["master_link_status"])
			}
		case "master":
			if !strings.Contains(repl["slave0"], "state=online") {
				return fmt.Sprintf("%s: primary without a replica online (%q)", n.name, repl["slave0"])
			}
		}
	}
	return ""
}

// waitHealthy waits until unhealthy has nothing to say.
func (rc *redisCluster) waitHealthy(timeout time.Duration) {
	rc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := rc.unhealthy()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("the Redis Cluster was not whole within %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slotOf is the cluster slot of key.
func (rc *redisCluster) slotOf(key string) int {
	rc.t.Helper()
	slot, err := rc.running()[0].rdb.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		rc.t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	return int(slot)
}

// primaryOf is the node that serves slot as its primary, as a running
// node sees it.
func (rc *redisCluster) primaryOf(slot int) *redisNode {
	rc.t.Helper()
	view, err := rc.running()[0].view()
	if err != nil {
		rc.t.Fatal(err)
	}
	for _, c := range view {
		if c.is("master") && !c.failing() && c.serves(slot) {
			return rc.byPort(c.port)
		}
	}
	rc.t.Fatalf("no primary serves slot %d", slot)
	return nil
}

func (rc *redisCluster) byPort(port int) *redisNode {
	for _, n := range rc.nodes {
		if n.port == port {
			return n
		}
	}
	rc.t.Fatalf("no node of the cluster on port %d", port)
	return nil
}

// primaries are the nodes serving slots as primaries, in slot order.
func (rc *redisCluster) primaries() []*redisNode {
	rc.t.Helper()
	view, err := rc.running()[0].view()
	if err != nil {
		rc.t.Fatal(err)
	}
	type first struct {
		n    *redisNode
		slot int
	}
	var ps []first
	for _, c := range view {
		if c.is("master") && len(c.slots) > 0 {
			lo, _, _ := strings.Cut(c.slots[0], "-")
			s, _ := strconv.Atoi(lo)
			ps = append(ps, first{rc.byPort(c.port), s})
		}
	}
	slices.SortFunc(ps, func(a, b first) int { return a.slot - b.slot })
	nodes := make([]*redisNode, len(ps))
	for i, p := range ps {
		nodes[i] = p.n
	}
	return nodes
}

// killPrimary kills p (kill -9) and waits until its replica has taken
// over its slots and every running node says the cluster is ok again
// (without p). It returns the failover time: from the kill until then.
func (rc *redisCluster) killPrimary(p *redisNode, timeout time.Duration) time.Duration {
	rc.t.Helper()
	view, err := p.view()
	if err != nil {
		rc.t.Fatal(err)
	}
	var id string
	for _, c := range view {
		if c.is("myself") {
			id = c.id
		}
	}
	killed := time.Now()
	p.kill()
	deadline := killed.Add(timeout)
	for {
		why := rc.failedOver(id)
		if why == "" {
			return time.Since(killed)
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("no failover within %v of killing %s: %s", timeout, p.name, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// failedOver says why the cluster has not got over the death of node id
// yet, or "": every running node says cluster_state:ok with every slot
// served, flags id as failed, and sees id serve no slot.
func (rc *redisCluster) failedOver(id string) string {
	for _, n := range rc.running() {
		ci, err := n.info("cluster-info")
		if err != nil {
			return fmt.Sprintf("%s: %v", n.name, err)
		}
		if ci["cluster_state"] != "ok" || ci["cluster_slots_ok"] != "16384" {
			return fmt.Sprintf("%s: cluster_state %s, slots ok %s", n.name, ci["cluster_state"], ci["cluster_slots_ok"])
		}
		view, err := n.view()
		if err != nil {
			return fmt.Sprintf("%s: %v", n.name, err)
		}
		for _, c := range view {
			if c.id == id && (!c.is("fail") || len(c.slots) > 0) {
				return fmt.Sprintf("%s sees the killed node as %v serving %v", n.name, c.flags, c.slots)
			}
		}
	}
	return ""
}

// rejoin starts a killed node again and waits until it is back as a
// replica in sync and the cluster is whole. It returns how long that took.
func (rc *redisCluster) rejoin(n *redisNode, timeout time.Duration) time.Duration {
	rc.t.Helper()
	start := time.Now()
	n.up()
	waitFor(rc.t, timeout, n.name+" back as a replica", func() bool {
		repl, err := n.info("replication")
		return err == nil && repl["role"] == "slave" && repl["master_link_status"] == "up"
	})
	rc.waitHealthy(timeout)
	return time.Since(start)
}

// TestRedisClusterHarness checks the cluster helpers themselves: a
// cluster of three primaries and three replicas forms, a key written with
// WAIT 1 survives the kill -9 of its primary (the replica takes over), and
// the killed node rejoins as a replica.
func TestRedisClusterHarness(t *testing.T) {
	t.Parallel()
	rc := startRedisCluster(t, 3)
	if got := len(rc.primaries()); got != 3 {
		t.Fatalf("got %d primaries, want 3", got)
	}
	ctx := context.Background()
	c := rc.client()
	const key = "harness:{k}"
	p := rc.primaryOf(rc.slotOf(key))
	if err := c.Set(ctx, key, "held", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT on the key's primary: the replica holds the key before the kill.
	if n, err := p.rdb.Wait(ctx, 1, time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on the key's primary: %d replicas, %v; want 1", n, err)
	}
	took := rc.killPrimary(p, 30*time.Second)
	if q := rc.primaryOf(rc.slotOf(key)); q == p {
		t.Fatalf("the killed node still serves the key's slot")
	}
	c.ReloadState(ctx)
	got, err := c.Get(ctx, key).Result()
	if err != nil || got != "held" {
		t.Fatalf("after the failover GET %s: %q, %v; want %q", key, got, err, "held")
	}
	back := rc.rejoin(p, 60*time.Second)
	t.Logf("failover took %v; the killed node was back as a replica in %v", took.Round(time.Millisecond), back.Round(time.Millisecond))
}
