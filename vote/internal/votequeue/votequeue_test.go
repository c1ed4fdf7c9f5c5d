package votequeue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"livevote/shared/ballot"
	"livevote/vote/internal/testredis"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/poll"
)

func testClient(t testing.TB) *redis.Client {
	t.Helper()
	rdb, _ := testredis.Client(t)
	return rdb
}

func testStream(t testing.TB, rdb *redis.Client) string {
	name := "test_votequeue_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, name+":*").Result()
		rdb.Del(ctx, append(keys, name)...)
	})
	return name
}

// TestConcurrentAppendsKeepEachVotersOrder appends from many goroutines at
// once (so votes are batched); every vote is in the stream once, and each
// goroutine's votes carry increasing ids in the order it sent them.
func TestConcurrentAppendsKeepEachVotersOrder(t *testing.T) {
	rdb := testClient(t)
	stream := testStream(t, rdb)
	q := New(rdb, ballot.OneShard(stream))
	defer q.Close()
	const voters, each = 50, 40
	var wg sync.WaitGroup
	errs := make(chan error, voters)
	for v := 0; v < voters; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := ""
			for i := 0; i < each; i++ {
				id, err := q.Append(context.Background(), poll.DefaultID, fmt.Sprintf("voter%017d", v), []string{"a", "b"}[i%2])
				if err != nil {
					errs <- err
					return
				}
				if prev != "" && !idLess(prev, id) {
					errs <- fmt.Errorf("voter %d: id %s after %s", v, id, prev)
					return
				}
				prev = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := rdb.XLen(context.Background(), stream).Result(); err != nil || n != voters*each {
		t.Errorf("stream holds %d entries (err %v), want %d", n, err, voters*each)
	}
}

func idLess(a, b string) bool {
	var am, an, bm, bn uint64
	fmt.Sscanf(a, "%d-%d", &am, &an)
	fmt.Sscanf(b, "%d-%d", &bm, &bn)
	return am < bm || (am == bm && an < bn)
}

func TestAppendFailsFastWhenRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	q := New(rdb, ballot.OneShard("unused"))
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := q.Append(ctx, poll.DefaultID, "voter", "a"); err == nil {
		t.Fatal("Append succeeded with no Redis")
	}
	if ctx.Err() != nil {
		t.Error("Append waited for its deadline instead of failing fast")
	}
}

func TestAppendAfterClose(t *testing.T) {
	rdb := testClient(t)
	q := New(rdb, ballot.OneShard(testStream(t, rdb)))
	q.Close()
	if _, err := q.Append(context.Background(), poll.DefaultID, "voter", "a"); !errors.Is(err, ErrStopped) {
		t.Errorf("got %v, want ErrStopped", err)
	}
}

// BenchmarkAppendParallel appends from many goroutines, as concurrent
// requests do, against the real Redis.
func BenchmarkAppendParallel(b *testing.B) {
	rdb := testClient(b)
	q := New(rdb, ballot.OneShard(testStream(b, rdb)))
	defer q.Close()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Append(context.Background(), poll.DefaultID, "voter0000000000000000", "a"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
