package votequeue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/poll"
)

// redisPair is a primary and its replica, each a redis-server of the
// test's own on a free loopback port.
type redisPair struct {
	primary, replica *redis.Client
	replicaCmd       *exec.Cmd
}

// startPair starts a primary and one replica of it, and waits until the
// replica's link is up.
func startPair(t testing.TB) *redisPair {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	pport := freePort(t)
	startRedis(t, pport)
	rport := freePort(t)
	rcmd := startRedis(t, rport, "--replicaof", "127.0.0.1", strconv.Itoa(pport))
	p := &redisPair{
		primary:    redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(pport), ReadTimeout: 2 * time.Second}),
		replica:    redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(rport)}),
		replicaCmd: rcmd,
	}
	t.Cleanup(func() { p.primary.Close(); p.replica.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := p.replica.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica's link to its primary not up within 20 s:\n%s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedis runs redis-server on port with no persistence, in a
// temporary folder, until the test ends.
func startRedis(t testing.TB, port int, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("redis-server", append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--save", "", "--appendonly", "no"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped server is killed too
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not answer within 10 s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd
}

// TestWaitReplicas: with Wait.Replicas 1, every acknowledged write (votes
// in the default poll and in a poll, create, close, reopen) is on the
// replica the moment it is acknowledged; with the replica stopped, or with
// more replicas asked for than there are, nothing is acknowledged:
// ErrNotReplicated within about the timeout.
func TestWaitReplicas(t *testing.T) {
	pair := startPair(t)
	ctx := context.Background()
	const stream = "votes"
	const timeout = 300 * time.Millisecond
	q := NewWaiting(pair.primary, ballot.OneShard(stream), Wait{Replicas: 1, Timeout: timeout})
	defer q.Close()

	rec := poll.Record{Poll: poll.Poll{ID: "p1", Question: "Q?", State: poll.StateOpen,
		Options: []poll.Option{{ID: "a", Label: "A"}, {ID: "b", Label: "B"}}}}
	if err := q.Create(ctx, rec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if n, err := pair.replica.Exists(ctx, ballot.OneShard(stream).PollKey(0, rec.ID)).Result(); err != nil || n != 1 {
		t.Fatalf("replica holds the created poll's copy: %d (err %v), want 1", n, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pollID := []string{poll.DefaultID, rec.ID}[i%2]
			id, err := q.Append(ctx, pollID, fmt.Sprintf("voter%d", i), "a")
			if err != nil {
				errs <- err
				return
			}
			// Acknowledged: the replica holds it now, not later.
			if got, err := pair.replica.XRange(ctx, stream, id, id).Result(); err != nil || len(got) != 1 {
				errs <- fmt.Errorf("vote %s acknowledged, replica holds %d entries with its id (err %v), want 1", id, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if changed, err := q.SetState(ctx, rec.ID, poll.StateClosed); err != nil || !changed {
		t.Fatalf("close: changed %v, err %v; want true, nil", changed, err)
	}
	if s, err := pair.replica.HGet(ctx, ballot.OneShard(stream).PollKey(0, rec.ID), ballot.PollState).Result(); err != nil || s != poll.StateClosed {
		t.Fatalf("replica's poll state %q (err %v), want %q", s, err, poll.StateClosed)
	}
	// A refusal that wrote nothing is still a refusal.
	if _, err := q.Append(ctx, rec.ID, "voterX", "a"); !errors.Is(err, ErrPollClosed) {
		t.Errorf("vote in the closed poll: got %v, want ErrPollClosed", err)
	}

	// Two replicas asked for, one there: not acknowledged.
	q2 := NewWaiting(pair.primary, ballot.OneShard(stream), Wait{Replicas: 2, Timeout: timeout})
	defer q2.Close()
	if _, err := q2.Append(ctx, poll.DefaultID, "voterY", "b"); !errors.Is(err, ErrNotReplicated) {
		t.Errorf("2 replicas asked, 1 running: got %v, want ErrNotReplicated", err)
	}

	// The replica stopped: nothing is acknowledged, each write refused in
	// about the timeout.
	if err := pair.replicaCmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pair.replicaCmd.Process.Signal(syscall.SIGCONT) }()
	tests := []struct {
		name string
		do   func() error
	}{
		{"vote in the default poll", func() error { _, err := q.Append(ctx, poll.DefaultID, "voterZ", "a"); return err }},
		{"reopen", func() error { _, err := q.SetState(ctx, rec.ID, poll.StateOpen); return err }},
		{"vote in a poll", func() error { _, err := q.Append(ctx, rec.ID, "voterZ", "b"); return err }},
		{"create", func() error {
			r := rec
			r.ID = "p2"
			return q.Create(ctx, r)
		}},
	}
	for _, tt := range tests {
		start := time.Now()
		err := tt.do()
		took := time.Since(start)
		if !errors.Is(err, ErrNotReplicated) {
			t.Errorf("%s with the replica stopped: got %v, want ErrNotReplicated", tt.name, err)
		}
		if took < timeout || took > timeout+time.Second {
			t.Errorf("%s with the replica stopped: refused after %v, want about %v", tt.name, took, timeout)
		}
	}
}

// BenchmarkAppendWait is BenchmarkAppendParallel against a primary with
// one replica, acknowledging once the primary holds a vote (replicas=0, no
// WAIT) or once the replica does too (replicas=1): "parallel" is the
// throughput of 32 concurrent voters per core (batched), "serial" the
// latency of a lone vote.
func BenchmarkAppendWait(b *testing.B) {
	pair := startPair(b)
	for _, n := range []int{0, 1} {
		q := NewWaiting(pair.primary, ballot.OneShard("bench"+strconv.Itoa(n)), Wait{Replicas: n, Timeout: time.Second})
		defer q.Close()
		appendOne := func(b *testing.B) bool {
			if _, err := q.Append(context.Background(), poll.DefaultID, "voter0000000000000000", "a"); err != nil {
				b.Error(err)
				return false
			}
			return true
		}
		b.Run("replicas="+strconv.Itoa(n)+"/parallel", func(b *testing.B) {
			b.SetParallelism(32)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() && appendOne(b) {
				}
			})
		})
		b.Run("replicas="+strconv.Itoa(n)+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N && appendOne(b); i++ {
			}
		})
	}
}
