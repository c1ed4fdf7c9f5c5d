package voterkey

import (
	"bytes"
	"context"
	"errors"
	"livevote/vote/internal/testredis"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"livevote/shared/ballot"
	"livevote/shared/servicetest"
)

func testClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return testredis.Client(t)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestKeepersOfOneStreamAgree: vote servers starting at once on one Redis
// end up with one key, created once; each accepts the others' ids.
func TestKeepersOfOneStreamAgree(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	keepers := make([]*Keeper, 8)
	signers := make([]*ballot.VoterSigner, len(keepers))
	var wg sync.WaitGroup
	for i := range keepers {
		keepers[i] = New(rdb, stream, discard())
		if keepers[i].Current() != nil {
			t.Fatal("a new Keeper knows a key before asking Redis")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if signers[i], err = keepers[i].Signer(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored, err := rdb.Get(ctx, RedisKey(stream)).Bytes()
	if err != nil || len(stored) != 32 {
		t.Fatalf("Redis holds %d bytes at %s (%v), want a 32-byte key", len(stored), RedisKey(stream), err)
	}
	for i, s := range signers {
		if !s.Same(stored) || keepers[i].Current() != s {
			t.Errorf("keeper %d signs with another key than Redis holds", i)
		}
		if id := s.Issue(); !signers[(i+1)%len(signers)].Check(id) {
			t.Errorf("keeper %d's id %s refused by keeper %d", i, id, (i+1)%len(signers))
		}
	}
	// Another installation (stream) on the same Redis has its own key.
	other, err := New(rdb, stream+"_other", discard()).Signer(ctx)
	defer rdb.Del(ctx, RedisKey(stream+"_other"))
	if err != nil {
		t.Fatal(err)
	}
	if id := other.Issue(); signers[0].Check(id) {
		t.Errorf("an id of another installation (%s) was accepted", id)
	}
}

// TestSyncWritesBackALostKey: Redis lost the key (a restart without
// persistence, FLUSHALL); the server that holds it writes it back, and a
// server starting afterwards gets the same key.
func TestSyncWritesBackALostKey(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	out := &servicetest.LockedBuffer{}
	k := New(rdb, stream, slog.New(slog.NewJSONHandler(out, nil)))
	s, err := k.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.Issue()
	rdb.Del(ctx, RedisKey(stream))

	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stored, _ := rdb.Get(ctx, RedisKey(stream)).Bytes()
	if !s.Same(stored) {
		t.Fatal("the held key was not written back to Redis")
	}
	if !strings.Contains(out.String(), "wrote it back") {
		t.Errorf("log does not say the key was written back:\n%s", out.String())
	}
	later, err := New(rdb, stream, discard()).Signer(ctx)
	if err != nil || !later.Check(id) {
		t.Errorf("a vote server started after the loss refused an id issued before it (%v)", err)
	}
}

// TestSyncAdoptsAnotherKey: while Redis had lost the key, another vote
// server made a new one; the holder takes it (one key for all) and says so.
func TestSyncAdoptsAnotherKey(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	out := &servicetest.LockedBuffer{}
	k := New(rdb, stream, slog.New(slog.NewJSONHandler(out, nil)))
	if _, err := k.Signer(ctx); err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{7}, 32)
	rdb.Set(ctx, RedisKey(stream), newKey, 0)
	if err := k.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !k.Current().Same(newKey) {
		t.Error("the keeper kept its own key, not the one Redis holds")
	}
	if !strings.Contains(out.String(), "no longer accepted") {
		t.Errorf("log does not warn that older ids are refused:\n%s", out.String())
	}
	// The key itself never reaches the log.
	if strings.Contains(out.String(), string(newKey)) {
		t.Error("the key is in the log")
	}
}

func TestMalformedKeyInRedis(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	rdb.Set(ctx, RedisKey(stream), "short", 0)
	if s, err := New(rdb, stream, discard()).Signer(ctx); err == nil || !errors.Is(err, ErrUnknown) {
		t.Errorf("got %v, %v; want ErrUnknown for a 5-byte key", s, err)
	}
}

// TestRedisDown: no key and no Redis: the error wraps ErrUnknown; once
// Redis answers, Run learns the key.
func TestRedisDown(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: servicetest.FreeAddr(t), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	k := New(dead, "votes", discard())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := k.Signer(ctx); !errors.Is(err, ErrUnknown) {
		t.Errorf("got %v, want ErrUnknown", err)
	}

	rdb, stream := testClient(t)
	k = New(rdb, stream, discard())
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for k.Current() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if k.Current() == nil {
		t.Error("Run did not learn the key within 5 s")
	}
}

func TestFixed(t *testing.T) {
	if _, err := Fixed([]byte("too short")); !errors.Is(err, ballot.ErrShortVoterKey) {
		t.Errorf("got %v, want ErrShortVoterKey", err)
	}
	secret := []byte(strings.Repeat("s", 40))
	k, err := Fixed(secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := k.Signer(context.Background())
	if err != nil || !s.Same(secret) || k.Current() != s {
		t.Fatalf("got %v, %v; want the secret's signer", s, err)
	}
	if err := k.Sync(context.Background()); err != nil {
		t.Errorf("Sync of a fixed key: %v", err)
	}
	k.Run(context.Background(), time.Second) // returns at once
}
