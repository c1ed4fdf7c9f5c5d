package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// natsClient is a connection to a NATS server with the errors the server
// sent it asynchronously (a refused publish arrives that way).
type natsClient struct {
	nc   *nats.Conn
	errs chan error
}

func connectNATS(t *testing.T, url string) *natsClient {
	t.Helper()
	c := &natsClient{errs: make(chan error, 16)}
	nc, err := nats.Connect(url, nats.NoReconnect(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connecting to NATS as %s: %v", userOf(url), err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// userOf names the user of a NATS URL for messages, never its password.
func userOf(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	if user, _, ok := strings.Cut(rest, ":"); ok && strings.Contains(rest, "@") {
		return user
	}
	return "a client without credentials"
}

// refused publishes data on subject and reports whether the server
// answered with a permissions violation.
func (c *natsClient) refused(t *testing.T, subject string, data []byte) bool {
	t.Helper()
	if err := c.nc.Publish(subject, data); err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatalf("flush after publishing on %s: %v", subject, err)
	}
	select {
	case err := <-c.errs:
		return errors.Is(err, nats.ErrPermissionViolation) ||
			strings.Contains(strings.ToLower(err.Error()), "permissions violation")
	case <-time.After(2 * time.Second):
		return false
	}
}

// collector keeps every message of its subscriptions.
type collector struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (l *collector) add(m *nats.Msg) {
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
}

func (l *collector) all() []*nats.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*nats.Msg(nil), l.msgs...)
}

// TestNATSAuthorization runs NATS with nats.conf, as make run, compose and
// the fault suite do, and tries it as a stranger would: a client without
// credentials may watch the tallies but publishes nothing, the result
// server's user publishes nothing either, a wrong password does not
// connect, and only the worker's tallies reach the subscribers and the
// result server's pages.
func TestNATSAuthorization(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	e := &env{t: t, name: "natsauth", redis: c.redisURL(), dbURL: c.dbURL(), natsURL: c.natsURL(),
		workerNATS: c.natsURLAs("worker"), resultNATS: c.natsURLAs("result")}
	// The contract's default subject, the one a stranger would try.
	const subject = "tally.changed"
	result := e.start("result", "TALLY_SUBJECT="+subject)
	worker := e.start("worker", "TALLY_SUBJECT="+subject)
	vote := e.start("vote")
	for _, p := range []*proc{result, worker, vote} {
		p.waitReady()
	}
	ws := dialSocket(t, result)

	anon := connectNATS(t, c.natsURL())
	seen := &collector{}
	for _, s := range []string{subject, tally.Wildcard(subject), "natsauth.probe"} {
		if _, err := anon.nc.Subscribe(s, seen.add); err != nil {
			t.Fatalf("a client without credentials subscribing to %s: %v", s, err)
		}
	}
	if err := anon.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The subscriptions were accepted: a refused one is reported
	// asynchronously, like a refused publish.
	select {
	case err := <-anon.errs:
		t.Fatalf("a client without credentials may not subscribe: %v", err)
	case <-time.After(300 * time.Millisecond):
	}

	// The forgery of the review: a version no real tally reaches.
	const forgedTotal = 1_000_000
	forged := []byte(fmt.Sprintf(`{"poll":%q,"version":9223372036854775807,"counts":{"a":%d,"b":0},"total":%d,"state":"open","updated_at":"2026-11-26T19:30:00Z"}`,
		poll.DefaultID, forgedTotal, forgedTotal))
	for _, s := range []string{subject, tally.Subject(subject, poll.DefaultID)} {
		if !anon.refused(t, s, forged) {
			t.Errorf("a client without credentials published on %s: want a permissions violation", s)
		}
	}
	res := connectNATS(t, c.natsURLAs("result"))
	if !res.refused(t, tally.Subject(subject, poll.DefaultID), forged) {
		t.Errorf("the user result published a tally: want a permissions violation")
	}

	port := c.nats.port
	for _, url := range []string{
		fmt.Sprintf("nats://worker:wrong@127.0.0.1:%d", port),
		fmt.Sprintf("nats://result:wrong@127.0.0.1:%d", port),
		fmt.Sprintf("nats://worker@127.0.0.1:%d", port),
		fmt.Sprintf("nats://anonymous:anything@127.0.0.1:%d", port),
	} {
		nc, err := nats.Connect(url, nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Errorf("%s connected with a wrong or missing password", strings.SplitN(url, "@", 2)[0])
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: got %v, want an authorization violation", strings.SplitN(url, "@", 2)[0], err)
		}
	}

	w := connectNATS(t, c.natsURLAs("worker"))
	if err := w.nc.Publish("natsauth.probe", []byte("from the worker")); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the worker user's message at the anonymous subscriber", func() bool {
		for _, m := range seen.all() {
			if m.Subject == "natsauth.probe" {
				return true
			}
		}
		return false
	})

	// A real vote: the worker's tally reaches the anonymous subscriber, the
	// result server and its WebSocket.
	if code := newVoter(t).vote(t, vote, "a"); code != http.StatusAccepted {
		t.Fatalf("vote answered %d, want 202", code)
	}
	isVote := func(tl tally.Tally) bool { return tl.Total == 1 && tl.Counts["a"] == 1 }
	waitFor(t, 10*time.Second, "the vote's tally on "+tally.Subject(subject, poll.DefaultID), func() bool {
		for _, m := range seen.all() {
			var tl tally.Tally
			if m.Subject == tally.Subject(subject, poll.DefaultID) && json.Unmarshal(m.Data, &tl) == nil && isVote(tl) {
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "the vote's tally at the result server", func() bool { return isVote(apiTally(t, result)) })
	waitFor(t, 10*time.Second, "the vote's tally on the WebSocket", func() bool { tl, ok := ws.last(); return ok && isVote(tl) })

	for _, m := range seen.all() {
		if strings.Contains(string(m.Data), fmt.Sprint(forgedTotal)) {
			t.Errorf("the anonymous subscriber received the forged tally on %s", m.Subject)
		}
	}
	if tl := apiTally(t, result); tl.Total == forgedTotal || tl.Version == 1<<63-1 {
		t.Errorf("the result server shows the forged tally: %+v", tl)
	}
	msgs, _ := ws.messages()
	for _, tl := range msgs {
		if tl.Total == forgedTotal || tl.Version == 1<<63-1 {
			t.Errorf("the WebSocket carried the forged tally: %+v", tl)
		}
	}

	// The servers' logs name NATS, without the passwords.
	for _, p := range []*proc{worker, result} {
		if want := "nats://" + p.name + ":xxxxx@127.0.0.1"; !strings.Contains(p.out.String(), want) {
			t.Errorf("%s's log does not name NATS as %s…", p.name, want)
		}
		for user, pw := range c.natsPasswords {
			if strings.Contains(p.out.String(), pw) {
				t.Errorf("%s's log holds the NATS password of %s", p.name, user)
			}
		}
	}
}
