package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/servicetest"
)

// cluster-node-timeout of the test clusters: a primary that does not
// answer for that long is voted failed and its replica takes over. Short,
// so a failover takes a few seconds at most. The fault suite's scenarios
// run one at a time and measure the failover with a second; the tests
// that run in parallel with the others (make test) leave a starved but
// healthy node two.
const (
	chaosNodeTimeout    = time.Second
	parallelNodeTimeout = 2 * time.Second
)

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
func startRedisCluster(t *testing.T, primaries int, nodeTimeout time.Duration) *redisCluster {
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
		n := newRedisNode(t, fmt.Sprintf("redis-cluster-%d", i), dir, nodeTimeout)
		t.Cleanup(n.kill)
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

// newRedisNode starts a redis-server in cluster mode in dir. A free port
// can be taken by someone else before the server binds it (an outgoing
// connection's local port, say), and a node needs two, its own and its
// cluster bus port: it is tried on fresh ports up to five times.
func newRedisNode(t *testing.T, name, dir string, nodeTimeout time.Duration) *redisNode {
	t.Helper()
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		n := &redisNode{server: &server{t: t, name: name, port: freePort(t)}, bus: freePort(t)}
		port, bus := strconv.Itoa(n.port), strconv.Itoa(n.bus)
		n.start = func() *exec.Cmd {
			// nodes.conf lives in the node's folder: a restarted node
			// finds its identity there and rejoins the cluster.
			return exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
				"--cluster-enabled", "yes", "--cluster-port", bus, "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10),
				"--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
		}
		// No retries: the helpers poll, and a dead node must answer at once.
		n.rdb = redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
			ReadTimeout: time.Second, WriteTimeout: time.Second})
		if last = n.firstUp(); last == nil {
			return n
		}
		n.rdb.Close()
		// What a failed start wrote, nodes.conf included, must not
		// survive into the next attempt.
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			_ = os.RemoveAll(filepath.Join(dir, en.Name()))
		}
	}
	t.Fatalf("%s did not start: %v", name, last)
	return nil
}

// firstUp starts the node and waits until it answers PING, which it does
// only once it holds both its ports; it says why not when the server
// exits first.
func (n *redisNode) firstUp() error {
	cmd := n.start()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &servicetest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for n.rdb.Ping(context.Background()).Err() != nil {
		select {
		case <-done:
			n.mu.Lock()
			n.cmd = nil
			n.mu.Unlock()
			return fmt.Errorf("exited at start:\n%s", tail(out.String(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("no answer to PING within 30s")
		}
	}
	return nil
}

// url is REDIS_URL naming every node as a seed, in go-redis's cluster form.
func (rc *redisCluster) url() string {
	addrs := make([]string, len(rc.nodes))
	for i, n := range rc.nodes {
		addrs[i] = "addr=" + n.addr()
	}
	return "redis://" + rc.nodes[0].addr() + "?" + strings.Join(addrs[1:], "&")
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
	id := p.id()
	killed := time.Now()
	p.kill()
	rc.waitFailedOver(p, id, killed, timeout)
	return time.Since(killed)
}

// waitFailedOver waits until failedOver has nothing to say of the killed
// node p, whose id was id.
func (rc *redisCluster) waitFailedOver(p *redisNode, id string, killed time.Time, timeout time.Duration) {
	rc.t.Helper()
	deadline := killed.Add(timeout)
	for {
		why := rc.failedOver(id)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("no failover within %v of killing %s: %s", timeout, p.name, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// id is the node's cluster id.
func (n *redisNode) id() string {
	n.t.Helper()
	view, err := n.view()
	if err != nil {
		n.t.Fatal(err)
	}
	for _, c := range view {
		if c.is("myself") {
			return c.id
		}
	}
	n.t.Fatalf("%s: no myself in CLUSTER NODES", n.name)
	return ""
}

// replicaOf is p's replica, as p sees it.
func (rc *redisCluster) replicaOf(p *redisNode) *redisNode {
	rc.t.Helper()
	id := p.id()
	view, err := p.view()
	if err != nil {
		rc.t.Fatal(err)
	}
	for _, c := range view {
		if c.is("slave") && c.master == id && !c.failing() {
			return rc.byPort(c.port)
		}
	}
	rc.t.Fatalf("%s has no replica", p.name)
	return nil
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
	rc := startRedisCluster(t, 3, parallelNodeTimeout)
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

// shardKeys are the stream keys of VOTE_STREAM_SHARDS=n (n > 1) over the
// stream prefix, as the contract names them: "<prefix>:{k}".
func shardKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for k := range keys {
		keys[k] = fmt.Sprintf("%s:{%d}", prefix, k)
	}
	return keys
}

// clusterShards is VOTE_STREAM_SHARDS of the cluster tests: more shards
// than primaries, so some primary holds two.
const clusterShards = 4

// servedBy says which shards (by index into keys) each primary serves.
func (rc *redisCluster) servedBy(keys []string) map[*redisNode][]int {
	m := make(map[*redisNode][]int)
	for k, key := range keys {
		p := rc.primaryOf(rc.slotOf(key))
		m[p] = append(m[p], k)
	}
	return m
}

// TestRedisClusterShards runs two vote servers, two workers and a result
// server on a Redis Cluster with VOTE_STREAM_SHARDS=4. Before any worker
// runs, every shard's stream (<stream>:{k}, read over the cluster) holds
// votes, all of one voter's votes are on one shard, every shard holds a
// copy of a poll created through the API (<stream>:{k}:poll:<id>), and the
// stream entries are exactly the acknowledged votes. Then the workers move
// every vote into PostgreSQL (each voter's last vote, row by row), the
// result server shows the counts, and every shard's stream is empty.
func TestRedisClusterShards(t *testing.T) {
	t.Parallel()
	rc := startRedisCluster(t, 3, parallelNodeTimeout)
	e := newEnv(t)
	e.redis = rc.url()
	c := rc.client()
	ctx := context.Background()
	keys := shardKeys(e.stream(), clusterShards)
	for p, ks := range rc.servedBy(keys) {
		t.Logf("%s serves shards %v", p.name, ks)
	}
	shards := "VOTE_STREAM_SHARDS=" + strconv.Itoa(clusterShards)
	votes := []*proc{e.start("vote", shards), e.start("vote", shards)}
	for _, v := range votes {
		v.waitReady()
	}
	created := createPoll(t, votes[0], pollDefs(t)["five"])
	for k := range keys {
		key := fmt.Sprintf("%s:{%d}:poll:%s", e.stream(), k, created.ID)
		if n, err := c.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Errorf("shard %d's copy of the poll %s: EXISTS answered %d, %v; want 1", k, key, n, err)
		}
	}

	const voters = 120
	options := created.OptionIDs()
	wantDefault := make(map[string]string, voters)
	wantPoll := make(map[string]string, voters)
	sent := 0
	for i := 0; i < voters; i++ {
		v := newVoter(t)
		first, last := []string{"a", "b"}[i%2], []string{"b", "a"}[i%2]
		if code := v.vote(t, votes[i%2], first); code != http.StatusAccepted {
			t.Fatalf("voter %d's vote: got %d, want 202", i, code)
		}
		sent++
		if i%3 == 0 {
			// A change of mind, through the other vote server.
			if code := v.vote(t, votes[(i+1)%2], last); code != http.StatusAccepted {
				t.Fatalf("voter %d's second vote: got %d, want 202", i, code)
			}
			sent++
			first = last
		}
		wantDefault[v.id] = first
		opt := options[i%len(options)]
		if code, body := v.votePoll(t, votes[(i+1)%2], created.ID, opt); code != http.StatusAccepted {
			t.Fatalf("voter %d's vote in %s: got %d %s, want 202", i, created.ID, code, body)
		}
		sent++
		wantPoll[v.id] = opt
	}

	shardOf := make(map[string]int, voters)
	inStreams := 0
	for k, key := range keys {
		entries, err := c.XRange(ctx, key, "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE %s: %v", key, err)
		}
		votesHere := 0
		for _, en := range entries {
			voter, ok := en.Values[ballot.FieldVoter].(string)
			if !ok {
				continue // a poll's command
			}
			votesHere++
			if prev, seen := shardOf[voter]; seen && prev != k {
				t.Errorf("voter %s has votes on shard %d and on shard %d", voter, prev, k)
			}
			shardOf[voter] = k
		}
		t.Logf("shard %d (%s): %d votes, %d entries", k, key, votesHere, len(entries))
		if votesHere == 0 {
			t.Errorf("shard %d (%s) holds no vote of %d voters", k, key, voters)
		}
		inStreams += votesHere
	}
	if inStreams != sent {
		t.Errorf("the shards hold %d votes, want the %d acknowledged", inStreams, sent)
	}
	if n, err := c.Exists(ctx, e.stream()).Result(); err != nil || n != 0 {
		t.Errorf("the unsharded stream key %s: EXISTS %d, %v; want 0 with %d shards", e.stream(), n, err, clusterShards)
	}

	e.start("worker", shards)
	e.start("worker", shards)
	result := e.start("result")
	wantCounts := func(want map[string]string, options []string) map[string]int64 {
		m := withZeros(nil, options)
		for _, o := range want {
			m[o]++
		}
		return m
	}
	defaultCounts, pollCounts := wantCounts(wantDefault, []string{"a", "b"}), wantCounts(wantPoll, options)
	waitFor(t, 30*time.Second, "every vote counted", func() bool {
		_, tl := readPollTally(t, result, created.ID)
		return sameCounts(apiTally(t, result), defaultCounts) && sameCounts(tl, pollCounts)
	})
	e.checkRows(wantDefault)
	e.checkPollRows(created.ID, wantPoll)
	waitFor(t, 10*time.Second, "every shard's stream empty", func() bool {
		for _, key := range keys {
			if n, err := c.XLen(ctx, key).Result(); err != nil || n != 0 {
				return false
			}
		}
		return true
	})
}

// TestChaosRedisCluster runs two vote servers (REDIS_WAIT_REPLICAS=1), two
// workers and two result servers on a Redis Cluster of three primaries
// and three replicas, with the stream in four shards. Under load over
// several polls a worker is killed (kill -9) and started again, then a
// primary is killed (kill -9): short, the one holding shard 0; full, each
// of the three first primaries in turn. Each time the suite waits until
// the replica has taken over and the cluster is ok again (the failover
// time), then restarts the killed node, which rejoins as a replica. Votes
// refused meanwhile are retried. Every acknowledged vote must be in
// PostgreSQL exactly once per voter and poll, and every result server and
// WebSocket must converge (the suite's oracle checks).
func TestChaosRedisCluster(t *testing.T) {
	ch := newChaos(t)
	// The suite's single Redis is not used here.
	ch.c.redis.kill()
	rc := startRedisCluster(t, 3, chaosNodeTimeout)
	ch.e.redis = rc.url()
	ch.rdb = rc.client()
	ch.streams = shardKeys(ch.e.stream(), clusterShards)
	ch.settings = []string{"VOTE_STREAM_SHARDS=" + strconv.Itoa(clusterShards), "REDIS_WAIT_REPLICAS=1"}
	served := rc.servedBy(ch.streams)
	victims := rc.primaries()
	if !*chaosFull {
		victims = []*redisNode{rc.primaryOf(rc.slotOf(ch.streams[0]))}
	}
	workers := ch.startSystem(2, 2, 2)

	var rounds []string
	var failovers []time.Duration
	workerKills := 0
	ch.during(chaosScale(10*time.Second, 45*time.Second), 16, func(ctx context.Context) {
		for i, p := range victims {
			if !sleepCtx(ctx, chaosScale(1500*time.Millisecond, 3*time.Second)) {
				return
			}
			w := i % len(workers)
			workers[w].kill()
			ch.kills++
			workerKills++
			workers[w] = ch.e.restart(workers[w])
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return
			}
			before := ch.refusals()
			took := rc.killPrimary(p, 30*time.Second)
			ch.kills++
			failovers = append(failovers, took)
			failedOver := ch.refusals()
			back := rc.rejoin(p, 60*time.Second)
			rejoined := ch.refusals()
			// Until the old primary is back as a replica, the promoted one
			// has none: a vote on its shards cannot be acknowledged.
			if ctx.Err() == nil && len(served[p]) > 0 && rejoined.minus(failedOver).notReplicated == 0 {
				t.Errorf("no vote refused as not replicated while %s's successor had no replica (shards %v): is REDIS_WAIT_REPLICAS=1 in effect?",
					p.name, served[p])
			}
			rounds = append(rounds, fmt.Sprintf("%s (shards %v): failover %v, refused meanwhile %s; back as a replica %v later, refused meanwhile %s",
				p.name, served[p], took.Round(time.Millisecond), failedOver.minus(before),
				back.Round(time.Millisecond), rejoined.minus(failedOver)))
		}
	})
	ch.workers = workers
	if len(failovers) != len(victims) {
		t.Errorf("%d primaries killed in the load's time, want %d", len(failovers), len(victims))
	}
	for _, r := range rounds {
		t.Log(r)
	}
	t.Logf("refused in all: %s", ch.refusals())
	ch.report(fmt.Sprintf("Redis Cluster of 3+3, %d shards, REDIS_WAIT_REPLICAS=1; %d primaries killed, %d workers killed",
		clusterShards, len(failovers), workerKills), ch.converge(30*time.Second))
}

// refusalCounts are the votes refused so far: those whose 503 named
// REDIS_WAIT_REPLICAS (Redis holds the vote, no replica did in time), and
// the others (Redis unreachable or the cluster down; or no answer).
type refusalCounts struct{ notReplicated, other int64 }

func (ch *chaos) refusals() refusalCounts {
	n := ch.unreplicated.Load()
	return refusalCounts{notReplicated: n, other: ch.refused.Load() - n}
}

func (r refusalCounts) minus(o refusalCounts) refusalCounts {
	return refusalCounts{r.notReplicated - o.notReplicated, r.other - o.other}
}

func (r refusalCounts) String() string {
	return fmt.Sprintf("%d unavailable + %d not replicated", r.other, r.notReplicated)
}

// TestRedisClusterWaitKeepsAckedVotes shows what REDIS_WAIT_REPLICAS buys
// on a Redis Cluster (four shards). The primary holding shards 1 and 2 is
// cut off from its replica (the replica stopped, its link killed), votes
// are sent for a moment, then the primary is killed (kill -9) and the
// replica, let go again, takes over without what it never received. With
// REDIS_WAIT_REPLICAS=0 the primary's shards acknowledged votes in that
// moment that the cluster no longer holds: acknowledged votes are lost.
// With REDIS_WAIT_REPLICAS=1 they are refused (503), and every acknowledged
// vote is still in its shard's stream after the failover.
func TestRedisClusterWaitKeepsAckedVotes(t *testing.T) {
	t.Parallel()
	rc := startRedisCluster(t, 3, parallelNodeTimeout)
	e := newEnv(t)
	e.redis = rc.url()
	c := rc.client()
	ctx := context.Background()
	keys := shardKeys(e.stream(), clusterShards)
	shards := "VOTE_STREAM_SHARDS=" + strconv.Itoa(clusterShards)

	// held is every voter whose vote a shard's stream holds.
	held := func() map[string]bool {
		c.ReloadState(ctx)
		m := make(map[string]bool)
		for _, key := range keys {
			var entries []redis.XMessage
			var err error
			waitFor(t, 10*time.Second, "XRANGE "+key+" after the failover", func() bool {
				entries, err = c.XRange(ctx, key, "-", "+").Result()
				return err == nil
			})
			for _, en := range entries {
				if voter, ok := en.Values[ballot.FieldVoter].(string); ok {
					m[voter] = true
				}
			}
		}
		return m
	}

	for _, wait := range []int{0, 1} {
		vote := e.start("vote", shards, "REDIS_WAIT_REPLICAS="+strconv.Itoa(wait))
		vote.waitReady()
		for i := 0; i < 20; i++ {
			if code := newVoter(t).vote(t, vote, "a"); code != http.StatusAccepted {
				t.Fatalf("WAIT %d: a vote with the cluster whole got %d, want 202", wait, code)
			}
		}
		p := rc.primaryOf(rc.slotOf(keys[1]))
		r := rc.replicaOf(p)
		id := p.id()

		// Cut off: the replica stopped (so it does not reconnect), its
		// link closed by the primary, which goes on taking writes.
		r.signal(syscall.SIGSTOP)
		if err := p.rdb.ClientKillByFilter(ctx, "TYPE", "replica").Err(); err != nil {
			r.signal(syscall.SIGCONT)
			t.Fatalf("CLIENT KILL TYPE replica: %v", err)
		}
		var mu sync.Mutex
		var acked []string
		refused := 0
		stop := time.Now().Add(400 * time.Millisecond)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					v := newVoter(t)
					v.client.Timeout = 5 * time.Second
					resp, err := v.client.Post(vote.url("/api/vote"), "application/json", strings.NewReader(`{"vote":"b"}`))
					if err != nil {
						continue
					}
					var body struct {
						VoterID string `json:"voter_id"`
					}
					ok := resp.StatusCode == http.StatusAccepted && json.NewDecoder(resp.Body).Decode(&body) == nil
					resp.Body.Close()
					mu.Lock()
					if ok {
						acked = append(acked, body.VoterID)
					} else {
						refused++
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		killed := time.Now()
		p.kill()
		r.signal(syscall.SIGCONT)
		wg.Wait()
		rc.waitFailedOver(p, id, killed, 30*time.Second)

		have := held()
		lost := 0
		for _, voter := range acked {
			if !have[voter] {
				lost++
			}
		}
		t.Logf("REDIS_WAIT_REPLICAS=%d: %d votes acknowledged and %d refused while %s was cut off from its replica; %d acknowledged votes lost in the failover",
			wait, len(acked), refused, p.name, lost)
		switch {
		case wait == 0 && lost == 0:
			t.Errorf("REDIS_WAIT_REPLICAS=0: no acknowledged vote lost; the scenario did not cut the replica off (%d acknowledged)", len(acked))
		case wait > 0 && lost > 0:
			t.Errorf("REDIS_WAIT_REPLICAS=%d: %d of %d acknowledged votes lost in the failover", wait, lost, len(acked))
		case wait > 0 && refused == 0:
			t.Errorf("REDIS_WAIT_REPLICAS=%d: no vote refused while the primary had no replica", wait)
		}
		vote.kill()
		rc.rejoin(p, 60*time.Second)
	}
}
