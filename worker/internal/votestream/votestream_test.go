package votestream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/worker/internal/testredis"
)

func add(t *testing.T, rdb redis.UniversalClient, key string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: []string{"voter", "x", "vote", "a"}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestReadClaimAck(t *testing.T) {
	rdb, key := testredis.Client(t)
	ctx := context.Background()
	ghost := New(rdb, key, "g", "ghost")
	me := New(rdb, key, "g", "me")
	for range 2 { // a second create finds the group there
		if err := me.CreateGroup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ids := add(t, rdb, key, 3)
	got, err := ghost.Read(ctx, 2, 10*time.Millisecond)
	if err != nil || len(got) != 2 || got[0].ID != ids[0] {
		t.Fatalf("ghost read %v (err %v), want the first 2 entries", got, err)
	}
	got, err = me.Read(ctx, 10, 10*time.Millisecond)
	if err != nil || len(got) != 1 || got[0].ID != ids[2] {
		t.Fatalf("read %v (err %v), want the third entry only", got, err)
	}
	got, err = me.Read(ctx, 10, 10*time.Millisecond)
	if err != nil || len(got) != 0 {
		t.Fatalf("read of an empty stream: got %v (err %v), want nothing", got, err)
	}
	time.Sleep(20 * time.Millisecond)
	claimed, next, err := me.Claim(ctx, "0-0", 10*time.Millisecond, 10)
	if err != nil || len(claimed) != 3 || next != "0-0" {
		t.Fatalf("claim got %d entries, next %q (err %v), want all 3 and 0-0", len(claimed), next, err)
	}
	smp, err := me.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if smp.Length != 3 || smp.Pending != 3 || smp.OldestPendingAge < 20*time.Millisecond || smp.OldestPendingAge > time.Minute {
		t.Errorf("sample %+v, want length 3, pending 3, oldest pending about 20ms old", smp)
	}
	if err := me.Ack(ctx, ids...); err != nil {
		t.Fatal(err)
	}
	smp, err = me.Sample(ctx)
	if err != nil || smp != (Sample{}) {
		t.Errorf("after ack: sample %+v (err %v), want all zero", smp, err)
	}
	removed, err := me.RemoveIdleConsumers(ctx, 0)
	if err != nil || len(removed) != 1 || removed[0] != "ghost" {
		t.Errorf("removed %v (err %v), want [ghost]", removed, err)
	}
}

func TestGroupLost(t *testing.T) {
	rdb, key := testredis.Client(t)
	ctx := context.Background()
	s := New(rdb, key, "g", "me")
	if err := s.CreateGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// The stream deleted under a blocked read: UNBLOCKED.
	done := make(chan error, 1)
	go func() { _, err := s.Read(ctx, 10, 5*time.Second); done <- err }()
	time.Sleep(100 * time.Millisecond)
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrGroupLost) {
		t.Errorf("blocked read when the stream went: got %v, want ErrGroupLost", err)
	}
	// Reading a stream that has no group: NOGROUP.
	if _, err := s.Read(ctx, 10, 10*time.Millisecond); !errors.Is(err, ErrGroupLost) {
		t.Errorf("read without a group: got %v, want ErrGroupLost", err)
	}
	if _, _, err := s.Claim(ctx, "0-0", time.Second, 10); !errors.Is(err, ErrGroupLost) {
		t.Errorf("claim without a group: got %v, want ErrGroupLost", err)
	}
	if err := s.CreateGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, 10, 10*time.Millisecond); err != nil {
		t.Errorf("read after recreating the group: %v", err)
	}
}
