package hub

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newHub() *Hub {
	return New(NewMetrics(prometheus.NewRegistry()), 0, []byte(`{"version":0}`))
}

func msg(v int64) []byte { return []byte(fmt.Sprintf(`{"version":%d}`, v)) }

// fakeConn is a client whose writes can be held up, as a slow network.
type fakeConn struct {
	mu      sync.Mutex
	written []*websocket.PreparedMessage
	gate    chan struct{} // each write waits for a value, when not nil
	wrote   chan struct{}
	closed  chan struct{}
	control []int
}

func newFakeConn(gated bool) *fakeConn {
	c := &fakeConn{wrote: make(chan struct{}, 1000), closed: make(chan struct{})}
	if gated {
		c.gate = make(chan struct{})
	}
	return c
}

func (c *fakeConn) WritePreparedMessage(pm *websocket.PreparedMessage) error {
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-c.closed:
			return errors.New("closed")
		}
	}
	c.mu.Lock()
	c.written = append(c.written, pm)
	c.mu.Unlock()
	c.wrote <- struct{}{}
	return nil
}

func (c *fakeConn) WriteControl(t int, _ []byte, _ time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.control = append(c.control, t)
	return nil
}
func (c *fakeConn) SetWriteDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error   { return nil }
func (c *fakeConn) SetReadLimit(int64)                {}
func (c *fakeConn) SetPongHandler(func(string) error) {}
func (c *fakeConn) ReadMessage() (int, []byte, error) {
	<-c.closed
	return 0, nil, errors.New("closed")
}
func (c *fakeConn) writes() []*websocket.PreparedMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*websocket.PreparedMessage(nil), c.written...)
}

func waitWrites(t *testing.T, c *fakeConn, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-c.wrote:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d writes, want %d", len(c.writes()), n)
		}
	}
}

func TestClientGetsLatestOnConnectThenEachNewer(t *testing.T) {
	h := newHub()
	h.Broadcast(3, msg(3))
	c := newFakeConn(false)
	defer close(c.closed)
	go h.Serve(c)
	waitWrites(t, c, 1)
	if got := c.writes()[0]; got != h.latest.pm {
		t.Fatal("first message is not the latest tally")
	}
	for v := int64(4); v <= 6; v++ {
		h.Broadcast(v, msg(v))
		waitWrites(t, c, 1)
		if got := c.writes(); got[len(got)-1] != h.latest.pm {
			t.Fatalf("after broadcasting version %d the client got another message", v)
		}
	}
	h.Broadcast(5, msg(5)) // older than what the client has: not sent
	select {
	case <-c.wrote:
		t.Error("an older version was sent after a newer one")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestSlowClientSkipsToLatestAndBlocksNoOne: one client's writes hang; the
// broadcasts and a fast client go on, and once the slow client's write
// returns it gets only the newest version.
func TestSlowClientSkipsToLatestAndBlocksNoOne(t *testing.T) {
	h := newHub()
	slow, fast := newFakeConn(true), newFakeConn(false)
	defer close(slow.closed)
	defer close(fast.closed)
	go h.Serve(slow)
	go h.Serve(fast)
	waitWrites(t, fast, 1)
	waitFor(t, func() bool { return h.Clients() == 2 })

	done := make(chan struct{})
	go func() {
		for v := int64(1); v <= 200; v++ {
			h.Broadcast(v, msg(v))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("broadcast blocked behind a slow client")
	}
	waitFor(t, func() bool {
		w := fast.writes()
		return len(w) > 0 && w[len(w)-1] == h.latest.pm
	})

	slow.gate <- struct{}{} // the write of version 0 that hung
	slow.gate <- struct{}{} // then one more, which must be the newest
	waitWrites(t, slow, 2)
	if w := slow.writes(); w[1] != h.latest.pm {
		t.Error("the slow client's next message is not the newest version")
	}
	select {
	case <-slow.wrote:
		t.Error("the slow client got more than the newest version")
	case <-time.After(50 * time.Millisecond):
	}
	if skipped := testutil.ToFloat64(h.metrics.Skipped); skipped < 190 {
		t.Errorf("skipped metric %v, want about 199", skipped)
	}
}

func TestCloseSendsGoingAwayAndRefusesNewClients(t *testing.T) {
	h := newHub()
	c := newFakeConn(false)
	served := make(chan struct{})
	go func() { h.Serve(c); close(served) }()
	waitWrites(t, c, 1)
	h.Close(time.Second)
	select {
	case <-served:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	close(c.closed)
	c.mu.Lock()
	ctl := append([]int(nil), c.control...)
	c.mu.Unlock()
	if len(ctl) == 0 || ctl[len(ctl)-1] != websocket.CloseMessage {
		t.Errorf("control frames %v, want a close frame", ctl)
	}
	late := newFakeConn(false)
	close(late.closed)
	h.Serve(late)
	if len(late.writes()) != 0 || h.Clients() != 0 {
		t.Error("a client connecting after Close was served")
	}
}

func TestMailboxKeepsNewest(t *testing.T) {
	h := newHub()
	c, ok := h.register()
	if !ok {
		t.Fatal("register refused")
	}
	if pm := c.take(); pm != h.latest.pm {
		t.Fatal("a new client does not start with the latest message")
	}
	var want *websocket.PreparedMessage
	skipped := 0
	for v := int64(1); v <= 10; v++ {
		m := prepare(v, msg(v))
		if c.offer(m) {
			skipped++
		}
		want = m.pm
	}
	if c.offer(prepare(4, msg(4))) {
		t.Error("an older version replaced a newer one")
	}
	if got := c.take(); got != want {
		t.Error("take did not return the newest offer")
	}
	if c.take() != nil {
		t.Error("a second take returned a message")
	}
	if skipped != 9 {
		t.Errorf("skipped %d, want 9", skipped)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkBroadcast10k measures one broadcast to 10,000 registered clients
// (framing once, queueing to every mailbox).
func BenchmarkBroadcast10k(b *testing.B) {
	h := newHub()
	clients := make([]*client, 10000)
	for i := range clients {
		clients[i], _ = h.register()
	}
	b.ReportAllocs()
	v := int64(0)
	for b.Loop() {
		v++
		h.Broadcast(v, msg(v))
		for _, c := range clients {
			c.take()
			select {
			case <-c.wake:
			default:
			}
		}
	}
}
