package ratelimit

import (
	"context"
	"errors"
	"livevote/vote/internal/testredis"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Limit
	}{
		{"off", Limit{}},
		{" OFF ", Limit{}},
		{"1/s", Limit{N: 1, Per: time.Second}},
		{"1500/m", Limit{N: 1500, Per: time.Minute}},
		{" 20 / M ", Limit{N: 20, Per: time.Minute}},
		{"1000000/s", Limit{N: 1000000, Per: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, nil", got, err, tt.want)
			}
			if err == nil {
				again, _ := Parse(got.String())
				if again != got {
					t.Errorf("String() = %q reads back as %+v, want %+v", got.String(), again, got)
				}
			}
		})
	}
	for _, bad := range []string{"", "10", "10/h", "0/s", "-1/s", "1000001/s", "1.5/s", "10/", "/s", "ten/s", "10/s/m", "on", "10 per minute"} {
		t.Run(bad, func(t *testing.T) {
			if got, err := Parse(bad); !errors.Is(err, ErrSyntax) {
				t.Errorf("got %+v, %v; want ErrSyntax", got, err)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int
	}{
		{0, 1}, {-1, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + time.Millisecond, 2}, {59500 * time.Millisecond, 60},
	}
	for _, tt := range tests {
		if got := (Decision{RetryAfter: tt.in}).RetryAfterSeconds(); got != tt.want {
			t.Errorf("RetryAfter %v: got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func testClient(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return testredis.Client(t)
}

// TestLimiterShared: two limiters of one stream (two vote servers) share
// the counts of an address; another address, another kind and another
// stream have their own.
func TestLimiterShared(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	a := New(rdb, stream, Limit{N: 3, Per: time.Minute}, Limit{N: 5, Per: time.Minute})
	b := New(rdb, stream, Limit{N: 3, Per: time.Minute}, Limit{N: 5, Per: time.Minute})
	allowed := 0
	var last Decision
	for i := 0; i < 5; i++ {
		lim := a
		if i%2 == 1 {
			lim = b
		}
		d, err := lim.Allow(ctx, NewVoters, "203.0.113.9")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
		last = d
	}
	if allowed != 3 {
		t.Errorf("got %d of 5 new voters allowed across two limiters, want 3", allowed)
	}
	// At 3 a minute, the next one is 20 s away.
	if last.Allowed || last.RetryAfter < 15*time.Second || last.RetryAfter > 20*time.Second || last.RetryAfterSeconds() > 20 {
		t.Errorf("refusal %+v (%d s), want a retry after 15 to 20 s", last, last.RetryAfterSeconds())
	}

	for _, tt := range []struct {
		name string
		lim  *Limiter
		kind Kind
		key  string
	}{
		{"another address", a, NewVoters, "203.0.113.10"},
		{"votes of the same address", a, Votes, "203.0.113.9"},
		{"another stream", New(rdb, stream+"x", Limit{N: 3, Per: time.Minute}, Limit{}), NewVoters, "203.0.113.9"},
	} {
		if d, err := tt.lim.Allow(ctx, tt.kind, tt.key); err != nil || !d.Allowed {
			t.Errorf("%s: got %+v, %v; want allowed", tt.name, d, err)
		}
	}
	keys, _ := rdb.Keys(ctx, "*"+stream+":rl:*").Result()
	if len(keys) == 0 {
		t.Errorf("no key named after the stream (%s:rl:…) in Redis", stream)
	}
}

// TestLimiterBurstThenRate: a burst of N at once, then the rate.
func TestLimiterBurstThenRate(t *testing.T) {
	rdb, stream := testClient(t)
	ctx := context.Background()
	lim := New(rdb, stream, Limit{}, Limit{N: 20, Per: time.Second})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := lim.Allow(ctx, Votes, "2001:db8::/64")
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if d.Allowed {
				allowed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A few may have come in as the first ones' time passed.
	if allowed < 20 || allowed > 22 {
		t.Errorf("got %d of 40 concurrent votes allowed, want 20 (the burst), 22 at most", allowed)
	}
	time.Sleep(110 * time.Millisecond) // 50 ms per vote at 20/s
	if d, err := lim.Allow(ctx, Votes, "2001:db8::/64"); err != nil || !d.Allowed {
		t.Errorf("after 110 ms: got %+v, %v; want allowed again", d, err)
	}
}

// TestLimiterOff: an off limit allows everything without Redis.
func TestLimiterOff(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	lim := New(dead, "votes", Limit{}, Limit{})
	for _, k := range []Kind{NewVoters, Votes} {
		if d, err := lim.Allow(context.Background(), k, "203.0.113.9"); err != nil || !d.Allowed || !lim.Off(k) {
			t.Errorf("%s: got %+v, %v; want allowed with no error", k, d, err)
		}
	}
	lim = New(dead, "votes", Limit{N: 1, Per: time.Second}, Limit{})
	if _, err := lim.Allow(context.Background(), NewVoters, "203.0.113.9"); err == nil {
		t.Error("a limit that is on answered without Redis")
	}
}

// BenchmarkAllow is one limit check on the real Redis, from many
// goroutines (a vote server under load), each event from its own address.
func BenchmarkAllow(b *testing.B) {
	rdb, stream := testClient(b)
	lim := New(rdb, stream, Limit{N: 1500, Per: time.Minute}, Limit{N: 3000, Per: time.Minute})
	var n atomic.Uint32
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := lim.Allow(context.Background(), Votes, "10."+strconv.Itoa(int(i>>16))+"."+strconv.Itoa(int(i>>8&255))+"."+strconv.Itoa(int(i&255))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
