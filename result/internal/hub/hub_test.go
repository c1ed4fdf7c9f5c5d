package hub

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"livevote/shared/tally"
)

// newHub returns a hub holding poll "p" at version 0, read from the
// database of epoch "".
func newHub() *Hub {
	h := New(NewMetrics(prometheus.NewRegistry()), "p")
	h.Stored(map[string]tally.Tally{"p": tl("p", 0)}, true, longAgo)
	return h
}

// readEpoch makes epoch the hub's, as a read of the database of that
// epoch which found none of the held polls would.
func readEpoch(h *Hub, epoch string) {
	h.Stored(map[string]tally.Tally{"not-held": tle("not-held", 1, epoch)}, false, longAgo)
}

// tl is poll id's tally at version v, of epoch "".
func tl(id string, v int64) tally.Tally { return tle(id, v, "") }

// tle is poll id's tally at version v of epoch.
func tle(id string, v int64, epoch string) tally.Tally {
	t := tally.New(id, v, []string{"a", "b"}, map[string]int64{"a": v}, "", time.Unix(0, 0))
	t.Epoch = epoch
	return t
}

// latest is the frame the hub holds for poll id.
func (h *Hub) latest(id string) []byte {
	r := h.lookup(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg.frame
}

// fakeConn is a client whose writes can be held up, as a slow network.
type fakeConn struct {
	mu      sync.Mutex
	written [][]byte      // the tally frames
	gate    chan struct{} // when not nil: TryWrite finds the socket full, each Write waits for a value
	wrote   chan struct{}
	closed  chan struct{}
	control []int // the opcodes of the control frames
	// expired is closed when a read deadline in the past is set, which
	// ends ReadMessage as on a network connection.
	expired chan struct{}
	expire  sync.Once
	fail    bool // every write fails, as on a broken connection
	// short, when > 0, is how many bytes of its first frame the socket
	// takes without waiting: the rest must come through Write.
	short  int
	stream []byte // every byte written, in order
	rest   int    // bytes of a short-written frame still to come
	onPing func(string) error
}

func newFakeConn(gated bool) *fakeConn {
	c := &fakeConn{wrote: make(chan struct{}, 1000), closed: make(chan struct{}), expired: make(chan struct{})}
	if gated {
		c.gate = make(chan struct{})
	}
	return c
}

func (c *fakeConn) TryWrite(b []byte) (int, error) {
	if c.gate != nil {
		return 0, nil
	}
	c.mu.Lock()
	if n := c.short; n > 0 {
		c.short, c.rest = 0, len(b)-n
		c.stream = append(c.stream, b[:n]...)
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.write(b)
}

func (c *fakeConn) Write(b []byte) (int, error) {
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-c.closed:
			return 0, errors.New("closed")
		}
	}
	return c.write(b)
}

// write records frame b, a whole one: the hub writes the rest of a frame
// the socket took in part, and the fake takes none or all.
func (c *fakeConn) write(b []byte) (int, error) {
	if c.fail {
		return 0, errors.New("broken pipe")
	}
	c.mu.Lock()
	c.stream = append(c.stream, b...)
	if c.rest > 0 {
		// The rest of the frame a short write began.
		c.rest -= len(b)
		c.mu.Unlock()
		return len(b), nil
	}
	if op := int(b[0] & 0x0f); op != opText {
		c.control = append(c.control, op)
		c.mu.Unlock()
		return len(b), nil
	}
	c.written = append(c.written, b)
	c.mu.Unlock()
	c.wrote <- struct{}{}
	return len(b), nil
}
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fakeConn) SetReadDeadline(t time.Time) error {
	if !t.After(time.Now()) {
		c.expire.Do(func() { close(c.expired) })
	}
	return nil
}
func (c *fakeConn) SetReadLimit(int64)                      {}
func (c *fakeConn) SetPongHandler(func(string) error)       {}
func (c *fakeConn) SetCloseHandler(func(int, string) error) {}
func (c *fakeConn) SetPingHandler(h func(string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onPing = h
}
func (c *fakeConn) ReadMessage() (int, []byte, error) {
	select {
	case <-c.closed:
		return 0, nil, errors.New("closed")
	case <-c.expired:
		return 0, nil, errors.New("i/o timeout")
	}
}
func (c *fakeConn) writes() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.written...)
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
	h.Offer(tl("p", 3))
	c := newFakeConn(false)
	defer close(c.closed)
	go h.Serve(c, "p")
	waitWrites(t, c, 1)
	if got := c.writes()[0]; !bytes.Equal(got, h.latest("p")) {
		t.Fatal("first message is not the latest tally")
	}
	for v := int64(4); v <= 6; v++ {
		h.Offer(tl("p", v))
		waitWrites(t, c, 1)
		if got := c.writes(); !bytes.Equal(got[len(got)-1], h.latest("p")) {
			t.Fatalf("after broadcasting version %d the client got another message", v)
		}
	}
	h.Offer(tl("p", 5)) // older than what the client has: not sent
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
	go h.Serve(slow, "p")
	go h.Serve(fast, "p")
	waitWrites(t, fast, 1)
	waitFor(t, func() bool { return h.Clients() == 2 })

	done := make(chan struct{})
	go func() {
		for v := int64(1); v <= 200; v++ {
			h.Offer(tl("p", v))
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
		return len(w) > 0 && bytes.Equal(w[len(w)-1], h.latest("p"))
	})

	slow.gate <- struct{}{} // the write of version 0 that hung
	slow.gate <- struct{}{} // then one more, which must be the newest
	waitWrites(t, slow, 2)
	if w := slow.writes(); !bytes.Equal(w[1], h.latest("p")) {
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

// TestFailedWriteDropsClient: a client whose write fails is counted as
// dropped and Serve returns, though the client never closed its side.
func TestFailedWriteDropsClient(t *testing.T) {
	h := newHub()
	c := newFakeConn(false)
	c.fail = true
	defer close(c.closed)
	served := make(chan struct{})
	go func() { h.Serve(c, "p"); close(served) }()
	select {
	case <-served:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after a failed write")
	}
	if got := testutil.ToFloat64(h.metrics.Dropped); got != 1 {
		t.Errorf("dropped metric %v, want 1", got)
	}
	if got := h.Clients(); got != 0 {
		t.Errorf("clients %d, want 0", got)
	}
}

// TestServeWaitsForItsWriter: a client that goes away while a write to it
// hangs is not let go (its connection handed back to the server) until
// that write returns.
func TestServeWaitsForItsWriter(t *testing.T) {
	h := newHub()
	c := newFakeConn(true)
	defer close(c.closed)
	served := make(chan struct{})
	go func() { h.Serve(c, "p"); close(served) }()
	waitFor(t, func() bool { return h.Clients() == 1 })
	_ = c.SetReadDeadline(time.Now()) // the client is gone; its first write hangs
	select {
	case <-served:
		t.Fatal("Serve returned while its write was under way")
	case <-time.After(50 * time.Millisecond):
	}
	c.gate <- struct{}{}
	select {
	case <-served:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after its write ended")
	}
	if got := testutil.ToFloat64(h.metrics.Sent); got != 1 {
		t.Errorf("sent metric %v, want 1", got)
	}
}

func TestCloseSendsGoingAwayAndRefusesNewClients(t *testing.T) {
	h := newHub()
	c := newFakeConn(false)
	served := make(chan struct{})
	go func() { h.Serve(c, "p"); close(served) }()
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
	if len(ctl) == 0 || ctl[len(ctl)-1] != websocket.CloseMessage { // the opcode
		t.Errorf("control frames %v, want a close frame", ctl)
	}
	late := newFakeConn(false)
	close(late.closed)
	h.Serve(late, "p")
	if len(late.writes()) != 0 || h.Clients() != 0 {
		t.Error("a client connecting after Close was served")
	}
}

func TestMailboxKeepsNewest(t *testing.T) {
	h := newHub()
	c, _, ok := h.register(nil, "p")
	if !ok {
		t.Fatal("register refused")
	}
	if b := c.take(); !bytes.Equal(b, h.latest("p")) {
		t.Fatal("a new client does not start with the latest message")
	}
	var want []byte
	skipped := 0
	for v := int64(1); v <= 10; v++ {
		m := message{seq: 1 + v, frame: frame(opText, []byte(fmt.Sprint(v)))}
		if _, skip := c.offer(m); skip {
			skipped++
		}
		want = m.frame
	}
	if _, skip := c.offer(message{seq: 5, frame: frame(opText, []byte("4"))}); skip {
		t.Error("an older message replaced a newer one")
	}
	if got := c.take(); !bytes.Equal(got, want) {
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

// BenchmarkBroadcast10k measures one tally offered to a poll with 10,000
// registered clients (encoding and framing once, queueing to every
// mailbox), while 1,000 other polls with a client each are held.
func BenchmarkBroadcast10k(b *testing.B) {
	h := newHub()
	clients := make([]*client, 10000)
	for i := range clients {
		clients[i], _, _ = h.register(nil, "p")
	}
	for i := range 1000 {
		h.register(nil, fmt.Sprintf("other-%d", i))
	}
	b.ReportAllocs()
	v := int64(0)
	for b.Loop() {
		v++
		h.Offer(tl("p", v))
		for _, c := range clients {
			c.take()
		}
	}
}

// TestPollsAreIsolated: a tally of one poll reaches that poll's clients
// only, and never changes another poll's tally.
func TestPollsAreIsolated(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()))
	readEpoch(h, "")
	for _, id := range []string{"red", "blue"} {
		h.Hold(id)
		if got := h.Offer(tl(id, 1)); got != Taken {
			t.Fatalf("first tally of %s: got %v, want Taken", id, got)
		}
	}
	red, blue := newFakeConn(false), newFakeConn(false)
	defer close(red.closed)
	defer close(blue.closed)
	go h.Serve(red, "red")
	go h.Serve(blue, "blue")
	waitWrites(t, red, 1)
	waitWrites(t, blue, 1)

	for v := int64(2); v <= 5; v++ {
		h.Offer(tl("red", v))
		waitWrites(t, red, 1)
	}
	select {
	case <-blue.wrote:
		t.Error("a client of blue got a tally of red")
	case <-time.After(50 * time.Millisecond):
	}
	if got, _, _ := h.Current("blue"); got.Version != 1 || got.Poll != "blue" {
		t.Errorf("blue's tally got %+v, want blue at version 1", got)
	}
	if got, _, _ := h.Current("red"); got.Version != 5 {
		t.Errorf("red's tally got version %d, want 5", got.Version)
	}
	// Versions are per poll: blue's version 2 is news though red is at 5.
	if got := h.Offer(tl("blue", 2)); got != Taken {
		t.Errorf("blue's version 2 after red's version 5: got %v, want Taken", got)
	}
	waitWrites(t, blue, 1)
}

func TestOfferKeepsHighestVersionPerPoll(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()), "default")
	if _, _, ok := h.Current("default"); ok {
		t.Fatal("a pinned poll has a tally before any was offered")
	}
	readEpoch(h, "")
	steps := []struct {
		id      string
		version int64
		want    Outcome
	}{
		{"default", 0, Taken}, // the first tally, even at version 0, is news
		{"default", 3, Taken},
		{"default", 2, Stale},
		{"default", 3, Stale},
		{"unheld", 9, NotHeld}, // nobody looks at it: not kept
		{"default", 5, Taken},
	}
	for _, s := range steps {
		if got := h.Offer(tl(s.id, s.version)); got != s.want {
			t.Errorf("Offer(%s version %d) = %v, want %v", s.id, s.version, got, s.want)
		}
	}
	cur, enc, ok := h.Current("default")
	if !ok || cur.Version != 5 {
		t.Fatalf("current %+v, want version 5", cur)
	}
	if string(enc) != string(cur.AppendJSON(nil)) {
		t.Errorf("encoded %s does not match current", enc)
	}
	if _, _, ok := h.Current("unheld"); ok {
		t.Error("an unheld poll has a tally")
	}
}

func TestSweepForgetsIdlePollsOnly(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()), "default")
	h.Hold("idle")
	h.Hold("watched")
	c := newFakeConn(false)
	defer close(c.closed)
	go h.Serve(c, "watched")
	waitFor(t, func() bool { return h.Clients() == 1 })

	if n := h.Sweep(time.Now().Add(-time.Hour)); n != 0 {
		t.Errorf("swept %d polls used just now, want 0", n)
	}
	if n := h.Sweep(time.Now().Add(time.Hour)); n != 1 {
		t.Errorf("swept %d, want 1 (idle; default is pinned, watched has a client)", n)
	}
	held := h.Held()
	slices.Sort(held)
	if want := []string{"default", "watched"}; !slices.Equal(held, want) {
		t.Errorf("held %v, want %v", held, want)
	}
	readEpoch(h, "")
	if got := h.Offer(tl("idle", 1)); got != NotHeld {
		t.Errorf("a swept poll's tally: got %v, want NotHeld", got)
	}
	// The watched poll still gets its tallies.
	if got := h.Offer(tl("watched", 1)); got != Taken {
		t.Errorf("the watched poll's first tally: got %v, want Taken", got)
	}
	waitWrites(t, c, 1)
}

// TestRegisterSurvivesSweep: a client that registers while its poll is
// swept lands in a live room and still gets the poll's tallies.
func TestRegisterSurvivesSweep(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()))
	readEpoch(h, "")
	var wg sync.WaitGroup
	conns := make([]*fakeConn, 50)
	for i := range conns {
		conns[i] = newFakeConn(false)
		wg.Add(1)
		go func() { defer wg.Done(); h.Serve(conns[i], "p") }()
		h.Sweep(time.Now().Add(time.Hour))
	}
	waitFor(t, func() bool { return h.Clients() == len(conns) })
	h.Offer(tl("p", 1))
	for _, c := range conns {
		waitWrites(t, c, 1)
		close(c.closed)
	}
	wg.Wait()
}

// TestShortWriteIsFinishedInOrder: a socket that takes only part of a
// frame gets the rest before anything else, then the newest tally.
func TestShortWriteIsFinishedInOrder(t *testing.T) {
	h := newHub()
	first := h.latest("p")
	c := newFakeConn(false)
	c.short = 3
	defer close(c.closed)
	go h.Serve(c, "p")
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.stream) == len(first) && c.rest == 0
	})
	h.Offer(tl("p", 1))
	waitWrites(t, c, 1)
	c.mu.Lock()
	got := append([]byte(nil), c.stream...)
	c.mu.Unlock()
	if want := append(append([]byte(nil), first...), h.latest("p")...); !bytes.Equal(got, want) {
		t.Errorf("bytes on the socket:\n got %q\nwant %q", got, want)
	}
}

// TestPingIsAnsweredByTheWriter: a client's ping gets a pong with its
// payload, written by the hub (not beside its frames by the library).
func TestPingIsAnsweredByTheWriter(t *testing.T) {
	h := newHub()
	c := newFakeConn(false)
	defer close(c.closed)
	go h.Serve(c, "p")
	waitWrites(t, c, 1)
	var ping func(string) error
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		ping = c.onPing
		return ping != nil
	})
	if err := ping("hi"); err != nil {
		t.Fatal(err)
	}
	want := frame(opPong, []byte("hi"))
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return bytes.HasSuffix(c.stream, want)
	})
}

func TestFrame(t *testing.T) {
	tests := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		payload := bytes.Repeat([]byte("x"), tt.n)
		got := frame(opText, payload)
		if !bytes.Equal(got[:len(tt.header)], tt.header) || !bytes.Equal(got[len(tt.header):], payload) {
			t.Errorf("frame of %d bytes: header % x, want % x", tt.n, got[:min(len(got), 10)], tt.header)
		}
	}
	if got, want := goingAwayFrame, append([]byte{0x88, 22, 0x03, 0xe9}, "server shutting down"...); !bytes.Equal(got, want) {
		t.Errorf("going-away frame % x, want % x", got, want)
	}
}

// TestLeavingKeepsTheOthers: clients leaving from the middle of a room
// leave every other client in it, each woken once by the next tally.
func TestLeavingKeepsTheOthers(t *testing.T) {
	h := newHub()
	var cs []*client
	var r *room
	for range 6 {
		c, rr, _ := h.register(nil, "p")
		c.take()
		cs, r = append(cs, c), rr
	}
	h.unregister(cs[1], r)
	h.unregister(cs[4], r)
	h.unregister(cs[5], r) // the last one
	if got := h.Clients(); got != 3 {
		t.Fatalf("clients %d, want 3", got)
	}
	h.Offer(tl("p", 1))
	for i, c := range cs {
		got := c.take()
		if stays := i == 0 || i == 2 || i == 3; stays != (got != nil) {
			t.Errorf("client %d: got a tally %v, want %v", i, got != nil, stays)
		}
	}
}

// fullConn is a connection whose socket never drains: TryWrite takes
// nothing and Write waits until the write deadline. onWrite runs at the
// start of each Write; true lets that write through at once.
type fullConn struct {
	fakeConn
	mu       sync.Mutex
	deadline time.Time
	writes   int
	onWrite  func(n int) bool
}

func (f *fullConn) TryWrite([]byte) (int, error)    { return 0, nil }
func (f *fullConn) SetReadDeadline(time.Time) error { return nil }
func (f *fullConn) SetWriteDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	return nil
}
func (f *fullConn) Write(b []byte) (int, error) {
	f.mu.Lock()
	f.writes++
	n := f.writes
	f.mu.Unlock()
	if f.onWrite(n) {
		return len(b), nil
	}
	for {
		f.mu.Lock()
		d := f.deadline
		f.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, errors.New("i/o timeout")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSlowWriterStopsAtTheEnd: a connection that ends while a slow
// client's writer finishes one frame gets no further write: the end's
// deadline stays, and the writer stops at once instead of waiting out a
// fresh writeWait for each frame left.
func TestSlowWriterStopsAtTheEnd(t *testing.T) {
	h := New(NewMetrics(prometheus.NewRegistry()))
	defer h.Close(time.Second)
	f := &fullConn{}
	c := &client{conn: f, seq: -1, slow: true}
	f.onWrite = func(n int) bool {
		if n == 1 {
			c.end(f) // the client's read failed meanwhile
			return true
		}
		return false
	}
	c.writer.Add(1)
	start := time.Now()
	h.writeSlow(c, []job{{frame: pingFrame}, {frame: []byte("tally"), tally: true}, {frame: []byte("more"), tally: true}})
	c.writer.Wait()
	if d := time.Since(start); d > time.Second {
		t.Errorf("the writer went on %v after the end", d)
	}
	if f.writes != 1 {
		t.Errorf("%d writes, want 1: nothing after the end", f.writes)
	}
}
