package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// The fault suite: every scenario runs the real binaries against a Redis
// (append-only), PostgreSQL and NATS of its own, drives votes from many
// voters spread over several polls (the default one and three created
// through the API, with 3, 5 and 12 options) while it breaks something,
// keeps its own record of each voter's last acknowledged vote in each poll
// (the oracle), and then checks, poll by poll, that PostgreSQL's rows,
// every result server's tally, the last tally on the poll's NATS subject
// and the last message on every WebSocket of the poll equal the oracle
// exactly.
//
// `make test` runs it short; `make chaos` runs it at full length
// (-chaos.full): longer load, more kills.
var chaosFull = flag.Bool("chaos.full", false, "run the fault suite at full length")

// chaosScale picks the short or the full figure.
func chaosScale[T any](short, full T) T {
	if *chaosFull {
		return full
	}
	return short
}

// chaos is one scenario's system.
type chaos struct {
	t       *testing.T
	c       *cluster
	e       *env
	oracle  *oracle
	votes   []*proc
	workers []*proc
	results []*proc
	// polls are the polls the load is spread over: the default one first,
	// then polls created through the API with different option counts.
	polls   []chaosPoll
	sockets []*liveSocket
	natsLog *natsWatcher
	// rdb is the Redis the stream is read from, and streams its keys (the
	// env's one stream, or every shard's on a Redis Cluster).
	rdb     redis.UniversalClient
	streams []string
	// settings are VAR=value pairs every binary gets beside the env's.
	settings []string

	sent, acked, refused atomic.Int64
	// unreplicated counts the refusals (503) that name REDIS_WAIT_REPLICAS:
	// Redis holds the vote, too few replicas did in time.
	unreplicated atomic.Int64
	kills        int

	// The window of a close of closing (when set), in Unix nanoseconds:
	// votes in it sent after closeAcked and answered before reopenSent
	// must be refused with 409; a 409 answered before closeSent or for a
	// vote sent after reopenAck is a bug.
	closing                                      string
	closeSent, closeAcked, reopenSent, reopenAck atomic.Int64
	closedRefusals                               atomic.Int64
}

// chaosPoll is one poll under load.
type chaosPoll struct {
	id      string
	options []string
	token   string
}

func newChaos(t *testing.T) *chaos {
	c := newCluster(t)
	// The binaries get their users' credentials; the suite's own NATS
	// watcher has none, as an operator's `nats sub` would.
	e := &env{t: t, name: "chaos", redis: c.redisURL(), dbURL: c.dbURL(), natsURL: c.natsURL(),
		workerNATS: c.natsURLAs("worker"), resultNATS: c.natsURLAs("result")}
	opts, _ := redis.ParseURL(e.redis)
	e.rdb = redis.NewClient(opts)
	t.Cleanup(func() { e.rdb.Close() })
	pool, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	e.pool = pool
	t.Cleanup(pool.Close)
	return &chaos{t: t, c: c, e: e, oracle: newOracle(), rdb: e.rdb, streams: []string{e.stream()}}
}

// startSystem starts vote, worker and result servers in the given numbers.
func (ch *chaos) startSystem(votes, workers, results int) (ws []*proc) {
	for i := 0; i < results; i++ {
		ch.results = append(ch.results, ch.e.start("result", ch.settings...))
	}
	for i := 0; i < workers; i++ {
		ws = append(ws, ch.e.start("worker", ch.settings...))
	}
	ch.workers = ws
	for i := 0; i < votes; i++ {
		ch.votes = append(ch.votes, ch.e.start("vote", ch.settings...))
	}
	ch.watch()
	return ws
}

// chaosPolls are the fixtures' polls the load is spread over beside the
// default one: 3, 5 and 12 options.
var chaosPolls = []string{"three", "five", "twelve"}

// watch creates the polls (through the first vote server), subscribes to
// the tally subjects and opens a WebSocket per poll on every result
// server; both reconnect by themselves.
func (ch *chaos) watch() {
	ch.polls = []chaosPoll{{id: poll.DefaultID, options: []string{"a", "b"}}}
	defs := pollDefs(ch.t)
	for _, name := range chaosPolls {
		c := createPoll(ch.t, ch.votes[0], defs[name])
		ch.polls = append(ch.polls, chaosPoll{id: c.ID, options: c.OptionIDs(), token: c.ManageToken})
	}
	ch.natsLog = watchNATS(ch.t, ch.e.natsURL, ch.e.subject())
	for _, r := range ch.results {
		for _, p := range ch.polls {
			ch.sockets = append(ch.sockets, openLiveSocket(ch.t, r, p.id))
		}
	}
}

// load votes from voters goroutines until ctx ends; each voter casts a few
// votes, each in a poll picked at random (so a voter has ballots in
// several polls and changes some), and is replaced by a new one. A refused
// vote is retried until it is acknowledged, so every voter's last vote in
// every poll is known.
func (ch *chaos) load(ctx context.Context, voters int) (wait func()) {
	var wg sync.WaitGroup
	for i := 0; i < voters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ch.voter(ctx, 1+rand.IntN(6))
			}
		}()
	}
	return wg.Wait
}

func (ch *chaos) voter(ctx context.Context, votes int) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	for i := 0; i < votes && ctx.Err() == nil; i++ {
		p := ch.polls[rand.IntN(len(ch.polls))]
		ch.voteUntilAcked(client, p, p.options[rand.IntN(len(p.options))])
		time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
	}
}

// votePath is where a vote in p is posted: version 1's route for the
// default poll (so it stays under load too), the poll's route otherwise.
func (p chaosPoll) votePath() string {
	if p.id == poll.DefaultID {
		return "/api/vote"
	}
	return "/api/polls/" + p.id + "/votes"
}

// tallyPath is where a result server answers p's tally.
func (p chaosPoll) tallyPath() string {
	if p.id == poll.DefaultID {
		return "/api/tally"
	}
	return "/api/polls/" + p.id + "/tally"
}

// voteUntilAcked sends one vote, to a random vote server, until one
// acknowledges it (at most a minute).
func (ch *chaos) voteUntilAcked(client *http.Client, p chaosPoll, opt string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		vote := ch.votes[rand.IntN(len(ch.votes))]
		ch.sent.Add(1)
		sent := time.Now().UnixNano()
		resp, err := client.Post(vote.url(p.votePath()), "application/json", strings.NewReader(`{"vote":"`+opt+`"}`))
		if err == nil {
			var body struct {
				VoterID string `json:"voter_id"`
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			ok := resp.StatusCode == http.StatusAccepted && err == nil && json.Unmarshal(raw, &body) == nil
			answered := time.Now().UnixNano()
			if p.id == ch.closing && ch.closeAcked.Load() != 0 && sent > ch.closeAcked.Load() &&
				(ch.reopenSent.Load() == 0 || answered < ch.reopenSent.Load()) && resp.StatusCode != http.StatusConflict {
				ch.t.Errorf("a vote in %s sent after its close was acknowledged, answered before the reopen was sent, got %d; want 409",
					p.id, resp.StatusCode)
			}
			if ok {
				ch.acked.Add(1)
				ch.oracle.record(p.id, body.VoterID, opt)
				return
			}
			if resp.StatusCode == http.StatusConflict {
				// Refused as closed: the voter's vote is not counted, as
				// for a person who sees "this poll is closed".
				if p.id != ch.closing || ch.closeSent.Load() == 0 || answered < ch.closeSent.Load() ||
					(ch.reopenAck.Load() != 0 && sent > ch.reopenAck.Load()) {
					ch.t.Errorf("a vote in %s got 409 outside its close", p.id)
				}
				ch.closedRefusals.Add(1)
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				ch.t.Errorf("vote in %s answered %d; want 202, or 503 while Redis is down", p.id, resp.StatusCode)
				return
			}
			if strings.Contains(string(raw), "REDIS_WAIT_REPLICAS") {
				ch.unreplicated.Add(1)
			}
		}
		ch.refused.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
	ch.t.Errorf("a vote was not acknowledged within a minute")
}

// converge waits until everything agrees with the oracle and returns how
// long that took. First without any new vote, so the result servers must
// catch up by themselves (a reload after a NATS outage, say); then after one
// more vote in every poll, whose tallies are published with everything up,
// so that the last tally on NATS can be compared too. The tables are
// checked row by row, each poll's ballots and version 1's votes view.
func (ch *chaos) converge(timeout time.Duration) time.Duration {
	ch.t.Helper()
	start := time.Now()
	ch.waitAgree(timeout, false)
	took := time.Since(start)
	for _, p := range ch.polls {
		ch.e.checkPollRows(p.id, ch.oracle.snapshot(p.id))
	}
	ch.e.checkRows(ch.oracle.snapshot(poll.DefaultID))

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	for _, p := range ch.polls {
		ch.voteUntilAcked(client, p, p.options[len(p.options)-1])
	}
	ch.waitAgree(timeout, true)
	// Every service rode out the storm by itself: all ready again.
	for _, p := range append(append(append([]*proc(nil), ch.votes...), ch.workers...), ch.results...) {
		select {
		case <-p.done: // killed for good by the scenario
			continue
		default:
		}
		resp, err := http.Get(p.url("/readyz"))
		if err != nil {
			ch.t.Errorf("%s /readyz: %v", p.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			ch.t.Errorf("%s not ready after the storm: %d %s", p.name, resp.StatusCode, body)
		}
	}
	for _, s := range ch.sockets {
		if back := s.problemList(); back != "" {
			ch.t.Errorf("WebSocket of poll %s on %s: %s", s.poll, s.server, back)
		}
	}
	if problems := ch.natsLog.problemList(); problems != "" {
		ch.t.Errorf("NATS: %s", problems)
	}
	return took
}

func (ch *chaos) waitAgree(timeout time.Duration, withNATS bool) {
	ch.t.Helper()
	want := make(map[string]map[string]int64, len(ch.polls))
	for _, p := range ch.polls {
		want[p.id] = ch.oracle.counts(p.id, p.options)
	}
	deadline := time.Now().Add(timeout)
	for {
		state := ch.disagreement(want, withNATS)
		if state == "" {
			return
		}
		if time.Now().After(deadline) {
			ch.t.Fatalf("not converged to %v within %v: %s", want, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// disagreement says what does not equal want (per poll) yet, or "". The
// stream is looked at first: counts can pass through the final figures on
// the way, an empty stream cannot.
func (ch *chaos) disagreement(want map[string]map[string]int64, withNATS bool) string {
	for _, key := range ch.streams {
		n, err := ch.rdb.XLen(context.Background(), key).Result()
		if err != nil || n != 0 {
			return fmt.Sprintf("stream %s holds %d entries (err %v)", key, n, err)
		}
	}
	for i, r := range ch.results {
		for _, p := range ch.polls {
			resp, err := http.Get(r.url(p.tallyPath()))
			if err != nil {
				return fmt.Sprintf("result %d: %v", i, err)
			}
			var t tally.Tally
			err = json.NewDecoder(resp.Body).Decode(&t)
			resp.Body.Close()
			if err != nil || t.Poll != p.id || !sameCounts(t, want[p.id]) {
				return fmt.Sprintf("result %d %s: %s %v (err %v)", i, p.tallyPath(), t.Poll, t.Counts, err)
			}
		}
	}
	if withNATS {
		for _, p := range ch.polls {
			if t, ok := ch.natsLog.last(p.id); !ok || !sameCounts(t, want[p.id]) {
				return fmt.Sprintf("last NATS tally on %s: %v", tally.Subject(ch.e.subject(), p.id), t.Counts)
			}
		}
		if t, ok := ch.natsLog.lastBare(); !ok || !sameCounts(t, want[poll.DefaultID]) {
			return fmt.Sprintf("last NATS tally on %s: %v", ch.e.subject(), t.Counts)
		}
	}
	for _, s := range ch.sockets {
		if t, ok := s.last(); !ok || !sameCounts(t, want[s.poll]) {
			return fmt.Sprintf("WebSocket of poll %s on %s: last message %v", s.poll, s.server, t.Counts)
		}
	}
	return ""
}

func (ch *chaos) report(what string, took time.Duration) {
	ch.t.Logf("%s: %d votes sent, %d acknowledged, %d refused or retried, %d kills; %d voters in %d polls; converged %v after the load",
		what, ch.sent.Load(), ch.acked.Load(), ch.refused.Load(), ch.kills, ch.oracle.voters(), len(ch.polls), took.Round(time.Millisecond))
}

// natsWatcher keeps the newest tally seen of each poll on its subject
// (through the wildcard), and the newest on the bare subject, which only
// the default poll's tallies may use.
type natsWatcher struct {
	mu       sync.Mutex
	newest   map[string]tally.Tally
	bare     tally.Tally
	bareSeen bool
	problems []string
}

func watchNATS(t *testing.T, url, base string) *natsWatcher {
	w := &natsWatcher{newest: make(map[string]tally.Tally)}
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	handle := func(m *nats.Msg) {
		var tl tally.Tally
		err := json.Unmarshal(m.Data, &tl)
		w.mu.Lock()
		defer w.mu.Unlock()
		switch {
		case err != nil:
			w.problems = append(w.problems, fmt.Sprintf("%s carried %.100s: %v", m.Subject, m.Data, err))
		case m.Subject == base:
			if tl.Poll != poll.DefaultID {
				w.problems = append(w.problems, fmt.Sprintf("%s carried poll %s's tally", m.Subject, tl.Poll))
			} else if !w.bareSeen || tl.Newer(w.bare) {
				w.bare, w.bareSeen = tl, true
			}
		case m.Subject != tally.Subject(base, tl.Poll):
			w.problems = append(w.problems, fmt.Sprintf("%s carried poll %s's tally", m.Subject, tl.Poll))
		default:
			if cur, ok := w.newest[tl.Poll]; !ok || tl.Newer(cur) {
				w.newest[tl.Poll] = tl
			}
		}
	}
	for _, subject := range []string{base, tally.Wildcard(base)} {
		if _, err := nc.Subscribe(subject, handle); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *natsWatcher) last(pollID string) (tally.Tally, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.newest[pollID]
	return t, ok
}

func (w *natsWatcher) lastBare() (tally.Tally, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bare, w.bareSeen
}

func (w *natsWatcher) problemList() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.problems) > 5 {
		return fmt.Sprintf("%s; … %d in all", strings.Join(w.problems[:5], "; "), len(w.problems))
	}
	return strings.Join(w.problems, "; ")
}

// liveSocket is a WebSocket client of one poll on one result server that
// reconnects when the server goes away, and notes any version that goes
// backwards on one connection and any tally of another poll.
type liveSocket struct {
	poll, server string
	mu           sync.Mutex
	newest       tally.Tally
	seen         bool
	problems     []string
}

// openLiveSocket follows pollID on result: /ws for the default poll (version
// 1's route), /ws?poll=<id> for the others.
func openLiveSocket(t *testing.T, result *proc, pollID string) *liveSocket {
	s := &liveSocket{poll: pollID, server: result.addr}
	path := "/ws"
	if pollID != poll.DefaultID {
		path = "/ws?poll=" + pollID
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			conn, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+result.addr+path, nil)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			var prev int64 = -1
			for {
				_, b, err := conn.ReadMessage()
				if err != nil {
					break
				}
				var tl tally.Tally
				if json.Unmarshal(b, &tl) != nil {
					continue
				}
				s.mu.Lock()
				switch {
				case tl.Poll != pollID:
					s.problems = append(s.problems, fmt.Sprintf("a tally of poll %s", tl.Poll))
				case tl.Version < prev:
					s.problems = append(s.problems, fmt.Sprintf("version %d after %d", tl.Version, prev))
				default:
					prev = tl.Version
					s.newest, s.seen = tl, true
				}
				s.mu.Unlock()
			}
			stop()
			conn.Close()
		}
	}()
	return s
}

func (s *liveSocket) last() (tally.Tally, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newest, s.seen
}

func (s *liveSocket) problemList() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.problems, "; ")
}

// during runs the load for d while breaker breaks things, then stops the
// load and waits for the voters in flight.
func (ch *chaos) during(d time.Duration, voters int, breaker func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wait := ch.load(ctx, voters)
	breaker(ctx)
	<-ctx.Done()
	wait()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// TestChaosWorkerKill9 kills the worker with SIGKILL at random moments,
// many times, under load, and starts a new one each time.
func TestChaosWorkerKill9(t *testing.T) {
	ch := newChaos(t)
	workers := ch.startSystem(1, 1, 1)
	worker := workers[0]
	ch.during(chaosScale(4*time.Second, 20*time.Second), 16, func(ctx context.Context) {
		for sleepCtx(ctx, time.Duration(100+rand.IntN(400))*time.Millisecond) {
			worker.kill()
			ch.kills++
			worker = ch.e.restart(worker)
		}
	})
	ch.workers = []*proc{worker}
	ch.report("worker kill -9", ch.converge(30*time.Second))
}

// TestChaosThreeWorkersOneLost runs three workers at once under load and
// kills one for good; the other two take over its pending entries.
func TestChaosThreeWorkersOneLost(t *testing.T) {
	ch := newChaos(t)
	workers := ch.startSystem(1, 3, 1)
	ch.during(chaosScale(4*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		sleepCtx(ctx, chaosScale(1500*time.Millisecond, 5*time.Second))
		workers[1].kill()
		ch.kills++
	})
	ch.report("three workers, one killed", ch.converge(30*time.Second))
}

// TestChaosPostgresRestart kills PostgreSQL under load and starts it again:
// votes are still accepted meanwhile, and the backlog drains after.
func TestChaosPostgresRestart(t *testing.T) {
	ch := newChaos(t)
	ch.startSystem(1, 1, 1)
	var ackedWhileDown int64
	ch.during(chaosScale(5*time.Second, 20*time.Second), 16, func(ctx context.Context) {
		for i := 0; i < chaosScale(1, 3) && sleepCtx(ctx, time.Second); i++ {
			ch.c.pg.kill()
			ch.kills++
			before := ch.acked.Load()
			time.Sleep(chaosScale(time.Second, 3*time.Second))
			ackedWhileDown += ch.acked.Load() - before
			ch.c.pg.up()
		}
	})
	if ackedWhileDown == 0 {
		t.Error("no vote was acknowledged while PostgreSQL was down; the vote path must not need it")
	}
	ch.report(fmt.Sprintf("postgres killed and restarted (%d votes acknowledged while it was down)", ackedWhileDown),
		ch.converge(60*time.Second))
}

// TestChaosNATSRestart kills NATS and starts it again: the result server
// and the WebSocket already open converge without any restart of ours, and
// the versions on the socket never go backwards.
func TestChaosNATSRestart(t *testing.T) {
	ch := newChaos(t)
	ch.startSystem(1, 1, 1)
	ch.during(chaosScale(4*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		for i := 0; i < chaosScale(1, 3) && sleepCtx(ctx, time.Second); i++ {
			ch.c.nats.restart(chaosScale(500*time.Millisecond, 2*time.Second))
			ch.kills++
		}
	})
	ch.report("nats killed and restarted", ch.converge(30*time.Second))
}

// TestChaosRedisRestart kills Redis (append-only) under load and starts it
// again: votes get 503 while it is down, and nothing acknowledged is lost.
func TestChaosRedisRestart(t *testing.T) {
	ch := newChaos(t)
	ch.startSystem(1, 1, 1)
	ch.during(chaosScale(4*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		for i := 0; i < chaosScale(1, 3) && sleepCtx(ctx, time.Second); i++ {
			ch.c.redis.restart(chaosScale(700*time.Millisecond, 2*time.Second))
			ch.kills++
		}
	})
	if ch.refused.Load() == 0 {
		t.Error("no vote was refused while Redis was down")
	}
	ch.report("redis killed and restarted", ch.converge(30*time.Second))
}

// TestChaosTwoOfEach runs two vote servers and two result servers behind
// the same Redis, PostgreSQL and NATS; both result servers converge. One
// poll is closed through one vote server and reopened through the other
// under load: every vote sent after the close was acknowledged is refused
// with 409 by both until the reopen, and none before the close is.
func TestChaosTwoOfEach(t *testing.T) {
	ch := newChaos(t)
	ch.startSystem(2, 2, 2)
	target := ch.polls[1]
	ch.closing = target.id
	ch.during(chaosScale(4*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		if !sleepCtx(ctx, chaosScale(time.Second, 4*time.Second)) {
			return
		}
		ch.closeSent.Store(time.Now().UnixNano())
		if code, p, body := manage(t, ch.votes[0], target.id, "close", target.token); code != http.StatusOK || p.State != poll.StateClosed {
			t.Errorf("close under load: got %d %s, want 200 closed", code, body)
		}
		ch.closeAcked.Store(time.Now().UnixNano())
		if !sleepCtx(ctx, chaosScale(time.Second, 4*time.Second)) {
			return
		}
		ch.reopenSent.Store(time.Now().UnixNano())
		if code, p, body := manage(t, ch.votes[1], target.id, "reopen", target.token); code != http.StatusOK || p.State != poll.StateOpen {
			t.Errorf("reopen under load: got %d %s, want 200 open", code, body)
		}
		ch.reopenAck.Store(time.Now().UnixNano())
	})
	if ch.closedRefusals.Load() == 0 {
		t.Errorf("no vote in %s was refused while it was closed", target.id)
	}
	ch.report(fmt.Sprintf("two vote, two worker and two result servers; one poll closed and reopened (%d votes refused as closed)",
		ch.closedRefusals.Load()), ch.converge(30*time.Second))
}

// TestChaosSIGTERM stops each service with SIGTERM under load and starts it
// again: each exits 0 and nothing is lost.
func TestChaosSIGTERM(t *testing.T) {
	ch := newChaos(t)
	workers := ch.startSystem(2, 1, 1)
	procs := map[string]*proc{"worker": workers[0], "vote": ch.votes[0], "result": ch.results[0]}
	ch.during(chaosScale(5*time.Second, 15*time.Second), 16, func(ctx context.Context) {
		for _, name := range []string{"worker", "vote", "result"} {
			if !sleepCtx(ctx, 700*time.Millisecond) {
				return
			}
			p := procs[name]
			if err := p.stop(15 * time.Second); err != nil {
				t.Errorf("%s after SIGTERM: %v", name, err)
			}
			ch.kills++
			procs[name] = ch.e.restart(p)
		}
	})
	ch.votes[0], ch.results[0], ch.workers[0] = procs["vote"], procs["result"], procs["worker"]
	ch.report("SIGTERM of each service", ch.converge(30*time.Second))
}

// TestChaosDependenciesLate starts the result server before PostgreSQL and
// NATS exist and the worker before Redis: they report not-ready, naming
// what is missing, then work once it appears.
func TestChaosDependenciesLate(t *testing.T) {
	ch := newChaos(t)
	ch.c.pg.kill()
	ch.c.nats.kill()
	ch.c.redis.kill()
	result := ch.e.start("result")
	worker := ch.e.start("worker")
	ch.results, ch.workers = []*proc{result}, []*proc{worker}
	wantNotReady(t, result, "postgres")
	wantNotReady(t, worker, "redis")

	ch.c.pg.up()
	waitReadyzNames(t, result, "nats")
	ch.c.nats.up()
	ch.c.redis.up()
	result.waitReady()
	worker.waitReady()

	ch.votes = []*proc{ch.e.start("vote")}
	ch.watch()
	ch.during(chaosScale(2*time.Second, 5*time.Second), 8, func(context.Context) {})
	ch.report("dependencies started after the services", ch.converge(30*time.Second))
}

func wantNotReady(t *testing.T, p *proc, dep string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	waitReadyzNames(t, p, dep)
}

// waitReadyzNames waits until /readyz answers 503 naming dep.
func waitReadyzNames(t *testing.T, p *proc, dep string) {
	t.Helper()
	waitFor(t, 20*time.Second, p.name+" /readyz naming "+dep, func() bool {
		resp, err := http.Get(p.url("/readyz"))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Failing string `json:"failing"`
		}
		return resp.StatusCode == 503 && json.NewDecoder(resp.Body).Decode(&st) == nil && st.Failing == dep
	})
}
