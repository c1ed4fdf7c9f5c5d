package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
)

// ownReplica starts a replica of the Redis at primaryPort on a free
// loopback port, in a temporary folder, and waits until its link to the
// primary is up.
func ownReplica(t *testing.T, primaryPort int) (*server, *redis.Client) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	s := &server{t: t, name: "redis-replica", port: port, start: func() *exec.Cmd {
		return exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", strconv.Itoa(primaryPort))
	}}
	s.up()
	t.Cleanup(s.kill)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	waitFor(t, 30*time.Second, "the replica's link to its primary", func() bool {
		info, err := rdb.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return s, rdb
}

// signal sends sig to s's process group (SIGSTOP: a replica that hangs).
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		s.t.Fatal(err)
	}
}

// TestRedisWaitReplicas: with REDIS_WAIT_REPLICAS=1, a vote is
// acknowledged (202) only once the replica holds it, so a failover to the
// replica cannot lose it; with the replica hung, and with 2 replicas asked
// for and one running, votes are refused (503 naming REDIS_WAIT_REPLICAS)
// within the wait's second, none acknowledged. Every acknowledged vote
// reaches PostgreSQL.
func TestRedisWaitReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	primary := ownRedis(t, e)
	replica, replicaRDB := ownReplica(t, primary.port)
	vote := e.start("vote", "REDIS_WAIT_REPLICAS=1")
	ctx := context.Background()

	// onReplica reads the voters the replica's stream holds.
	onReplica := func() map[string]string {
		entries, err := replicaRDB.XRange(ctx, e.stream(), "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE on the replica: %v", err)
		}
		m := make(map[string]string, len(entries))
		for _, en := range entries {
			voter, _ := en.Values[ballot.FieldVoter].(string)
			m[voter], _ = en.Values[ballot.FieldVote].(string)
		}
		return m
	}
	acked := map[string]string{}
	for i := 0; i < 20; i++ {
		option := []string{"a", "b"}[i%2]
		v := newVoter(t)
		if code := v.vote(t, vote, option); code != http.StatusAccepted {
			t.Fatalf("vote %d with the replica up: got %d, want 202", i, code)
		}
		// Right after the 202, no waiting: the replica holds it.
		if got := onReplica()[v.id]; got != option {
			t.Fatalf("vote %d acknowledged; the replica holds %q for its voter, want %q", i, got, option)
		}
		acked[v.id] = option
	}

	// refused checks that a vote gets a 503 that names the setting, within
	// the wait's second (and the request's own margin), never a 2xx.
	refused := func(what string, vote *proc) {
		t.Helper()
		for i := 0; i < 3; i++ {
			start := time.Now()
			code, body, _ := request(t, nil, http.MethodPost, vote.url("/api/vote"), "application/json", `{"vote":"a"}`)
			took := time.Since(start)
			if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "REDIS_WAIT_REPLICAS") {
				t.Fatalf("%s: got %d %s, want 503 naming REDIS_WAIT_REPLICAS", what, code, body)
			}
			if took < 900*time.Millisecond || took > 2500*time.Millisecond {
				t.Errorf("%s: answered in %v, want after the 1 s wait and well before the request's 3 s", what, took)
			}
		}
	}
	// Two replicas asked for, one running.
	vote2 := e.start("vote", "REDIS_WAIT_REPLICAS=2")
	refused("REDIS_WAIT_REPLICAS=2 with one replica", vote2)

	// The replica hangs: nothing is acknowledged.
	replica.signal(syscall.SIGSTOP)
	refused("REDIS_WAIT_REPLICAS=1 with the replica hung", vote)
	replica.signal(syscall.SIGCONT)

	// Back: acknowledged again.
	waitFor(t, 10*time.Second, "votes acknowledged again once the replica is back", func() bool {
		v := newVoter(t)
		if v.vote(t, vote, "b") != http.StatusAccepted {
			return false
		}
		acked[v.id] = "b"
		return true
	})

	// Every acknowledged vote reaches PostgreSQL (a refused one may too:
	// no 2xx was no promise either way).
	e.start("worker")
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	waitFor(t, 20*time.Second, "every acknowledged vote in PostgreSQL", func() bool {
		var n int
		err := e.pool.QueryRow(ctx, "SELECT count(*) FROM votes WHERE id = ANY($1)", ids).Scan(&n)
		return err == nil && n == len(ids)
	})
	e.compareQueryRows("acknowledged votes", acked, "SELECT id, vote FROM votes WHERE id = ANY($1)", ids)
}
