package web

import (
	"context"
	"crypto/rand"
	"livevote/shared/ballot"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/vote/internal/config"
	"livevote/vote/internal/ratelimit"
	"livevote/vote/internal/votequeue"
	"livevote/vote/internal/voterkey"
)

// BenchmarkAPIPollVote is BenchmarkAPIVote's vote sent to a poll's route
// (issue 7's many-polls path), so that the two can be compared.
func BenchmarkAPIPollVote(b *testing.B) {
	cfg, _ := config.Load(func(string) string { return "" })
	logger := slog.New(slog.DiscardHandler)
	q := &discardQueue{}
	p, err := poll.New(poll.NewID(), "Which one?", []string{"Yes", "No"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Create(context.Background(), poll.Record{Poll: p}); err != nil {
		b.Fatal(err)
	}
	app, err := NewServer(logger, cfg, q, testVoters(b), &fakeLimits{}, health.NewMonitor(logger, time.Second), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	id := testSigner(b).Issue()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/polls/"+p.ID+"/votes", strings.NewReader(`{"vote":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: "voter_id", Value: id})
		resp, err := app.Test(req, -1)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("got %v %v", resp, err)
		}
	}
}

// BenchmarkVoteLimits is what the rate limits cost a vote: the API vote
// route on the real Redis (votequeue, the voter key, the limiter), from
// many goroutines at once as under load, with both limits off and at their
// defaults. Each vote comes from its own client address (behind a trusted
// proxy, in X-Forwarded-For in both cases), so the defaults never refuse
// and every check is a real one. "returning" votes carry a voter id (one
// check: votes), "new" ones do not (two: votes, new voters, and an id is
// signed).
func BenchmarkVoteLimits(b *testing.B) {
	rdb := benchRedis(b)
	for _, limits := range []string{"off", "default"} {
		for _, who := range []string{"returning", "new"} {
			b.Run("limits="+limits+"/"+who, func(b *testing.B) {
				env := map[string]string{"TRUSTED_PROXIES": "0.0.0.0"}
				if limits == "off" {
					env["RATE_LIMIT_NEW_VOTERS"], env["RATE_LIMIT_VOTES"] = "off", "off"
				}
				cfg, err := config.Load(func(k string) string { return env[k] })
				if err != nil {
					b.Fatal(err)
				}
				stream := benchStream(b, rdb)
				logger := slog.New(slog.DiscardHandler)
				q := votequeue.New(rdb, ballot.OneShard(stream))
				defer q.Close()
				voters := voterkey.New(rdb, stream, logger)
				signer, err := voters.Signer(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				lim := ratelimit.New(rdb, stream, cfg.NewVoterLimit, cfg.VoteLimit)
				app, err := NewServer(logger, cfg, q, voters, lim, health.NewMonitor(logger, time.Second), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				var addr atomic.Uint32
				b.ReportAllocs()
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					id := signer.Issue()
					for pb.Next() {
						n := addr.Add(1)
						req := httptest.NewRequest("POST", "/api/vote", strings.NewReader(`{"vote":"a"}`))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}).String())
						if who == "returning" {
							req.AddCookie(&http.Cookie{Name: "voter_id", Value: id})
						}
						resp, err := app.Test(req, -1)
						if err != nil || resp.StatusCode != http.StatusAccepted {
							b.Errorf("got %v %v", resp, err)
							return
						}
					}
				})
			})
		}
	}
}

func benchRedis(b *testing.B) *redis.Client {
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Fatalf("Redis at TEST_REDIS_URL (%s) is unreachable: %v; start it with `make services`", url, err)
	}
	b.Cleanup(func() { rdb.Close() })
	return rdb
}

// benchStream is a fresh stream name; its keys, and the limiter's, are
// deleted when the benchmark ends.
func benchStream(b *testing.B, rdb *redis.Client) string {
	name := "bench_vote_" + strings.ToLower(rand.Text()[:10])
	b.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "*"+name+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		rdb.Del(ctx, append(keys, name)...)
	})
	return name
}
