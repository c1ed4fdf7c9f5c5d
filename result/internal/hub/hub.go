// Package hub is the result server's one owner of "the newest tally" of
// each poll, and fans each new tally out to that poll's WebSocket clients.
//
// Per poll the hub keeps a room: the tally, its JSON (encoded once), the
// WebSocket frame (framed once) and the set of the poll's clients. A tally
// replaces the room's only as the rules below say, and wakes only that
// room's clients. Each client has one writer goroutine and
// a mailbox that holds only the newest message, so a slow client skips
// intermediate versions (or is dropped when a write times out) and never
// holds up the others. Rooms cost no goroutine or timer: an idle room is
// only memory, and Sweep forgets the ones nobody looked at for a while.
//
// The database is the truth. Every tally carries the epoch of the database
// history that produced it, and the hub's epoch is the one of its last
// read of PostgreSQL (Stored). A read of another epoch (a restore, a new
// database) replaces every room's tally with the database's, whatever its
// version. A live tally (Offer, from NATS) is taken only when it has the
// hub's epoch and a higher version than the room's, and not a version far
// beyond the one last read from the database: so NATS can never switch
// epochs nor push a version the database cannot have reached.
package hub

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/tally"
)

// Conn is the part of a WebSocket connection the hub uses.
type Conn interface {
	WritePreparedMessage(pm *websocket.PreparedMessage) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetWriteDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	ReadMessage() (messageType int, p []byte, err error)
}

// Timing of the connection upkeep.
const (
	// writeWait is how long one write may take before the client is dropped.
	writeWait = 10 * time.Second
	// pongWait is how long a client may stay silent (no pong) before it is
	// considered gone.
	pongWait = 60 * time.Second
	// pingPeriod keeps connections alive through proxies and finds dead ones.
	pingPeriod = pongWait * 9 / 10
)

// MaxAhead is how far beyond the version last read from the database a
// live tally's version may be. The worker makes at most a few thousand
// versions of a poll between two reads (15 s apart); a version further
// ahead was not made by the database, and would otherwise win over every
// true tally after it.
const MaxAhead = 1 << 20

// Outcome is what the hub did with an offered tally.
type Outcome int

// The outcomes of Offer.
const (
	// Taken: the tally is its poll's newest; the poll's clients get it.
	Taken Outcome = iota
	// NotHeld: nobody looks at the poll lately (its first page reads it).
	NotHeld
	// Stale: the room holds the same or a higher version of the epoch.
	Stale
	// OtherEpoch: the tally is not of the epoch last read from the
	// database (or none has been read yet). Read the database again: it
	// may have been restored.
	OtherEpoch
	// TooFarAhead: the version is more than MaxAhead beyond the one last
	// read from the database.
	TooFarAhead
)

func (o Outcome) String() string {
	switch o {
	case Taken:
		return "taken"
	case NotHeld:
		return "not held"
	case Stale:
		return "stale"
	case OtherEpoch:
		return "other epoch"
	case TooFarAhead:
		return "too far ahead"
	}
	return "unknown"
}

// Hub is the registry of polls, their newest tallies and their clients.
type Hub struct {
	metrics *Metrics
	pinned  map[string]bool

	// epoch is the database epoch of the last read (nil before the first),
	// the only one a live tally may have.
	epoch atomic.Pointer[string]
	// storeMu makes reads of the database land one at a time.
	storeMu sync.Mutex

	// mu guards rooms and closed; each room guards itself. Lock order: mu,
	// then a room's mu.
	mu     sync.RWMutex
	rooms  map[string]*room
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// room is one poll: its newest tally and its clients.
type room struct {
	mu      sync.Mutex
	tally   tally.Tally
	encoded []byte
	msg     message // msg.pm is nil until the first tally
	// seq counts the tallies the room took: clients' mailboxes order
	// messages by it, since versions go back when the epoch changes.
	seq int64
	// stored is the version last read from the database for this poll
	// under the hub's epoch, -1 when none.
	stored int64
	// liveAt is when the room's tally was taken from NATS; zero when it
	// was read from the database.
	liveAt  time.Time
	clients map[*client]struct{}
	used    time.Time // last time a page, API call or client asked for it
	gone    bool      // swept: a new room replaces it
}

type message struct {
	seq int64
	pm  *websocket.PreparedMessage
}

// New returns a Hub that holds the pinned polls from the start (waiting
// for their first tally) and never sweeps them.
func New(m *Metrics, pinned ...string) *Hub {
	h := &Hub{metrics: m, pinned: make(map[string]bool), rooms: make(map[string]*room), done: make(chan struct{})}
	for _, id := range pinned {
		h.pinned[id] = true
		h.room(id)
	}
	go h.pinger()
	return h
}

// prepare frames b once, to be written as is to every client of the poll.
func prepare(b []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		// Only compression can fail, and it is off.
		panic(err)
	}
	return pm
}

// lookup returns the poll's room, or nil when the hub does not hold it.
func (h *Hub) lookup(id string) *room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rooms[id]
}

// room returns the poll's room, creating an empty one when needed.
func (h *Hub) room(id string) *room {
	if r := h.lookup(id); r != nil {
		return r
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		r = &room{clients: make(map[*client]struct{}), used: time.Now(), stored: -1}
		// A key of our own: callers' strings may share a buffer that is
		// reused (Fiber's request values are).
		h.rooms[strings.Clone(id)] = r
		h.metrics.Polls.Set(float64(len(h.rooms)))
	}
	return r
}

// Hold makes the hub keep poll id's tallies from now on, so that a tally
// offered while the caller reads the poll from the database is not lost.
func (h *Hub) Hold(id string) {
	r := h.room(id)
	r.mu.Lock()
	r.used = time.Now()
	r.mu.Unlock()
}

// Offer takes a live tally (one that came over NATS) as its poll's newest
// when the hub holds the poll, t has the epoch last read from the
// database, is the poll's first tally or has a higher version, and is not
// more than MaxAhead beyond the version last read; the poll's clients are
// then woken. It never blocks on a client.
func (h *Hub) Offer(t tally.Tally) Outcome {
	if e := h.epoch.Load(); e == nil || *e != t.Epoch {
		return OtherEpoch
	}
	r := h.lookup(t.Poll)
	if r == nil {
		// Nobody looked at this poll lately: its first page loads it.
		return NotHeld
	}
	return h.put(r, t, time.Now(), func() Outcome { return r.judgeLive(t, h.epoch.Load()) })
}

// judgeLive is what Offer does with t in r (locked).
func (r *room) judgeLive(t tally.Tally, epoch *string) Outcome {
	switch {
	case r.gone:
		return NotHeld
	case epoch == nil || *epoch != t.Epoch:
		// The epoch changed since Offer looked.
		return OtherEpoch
	case t.Version-max(r.stored, 0) > MaxAhead:
		// A poll not read from the database yet (held, about to be read;
		// or missing from a restored database) counts from 0: a tally of
		// version 2^63-1 is never shown, not even for that moment.
		return TooFarAhead
	case r.msg.pm != nil && r.tally.Epoch == t.Epoch && t.Version <= r.tally.Version:
		return Stale
	}
	return Taken
}

// Stored takes tallies read from the database by a query that began at
// began, all of one epoch; all reports whether the read was of every poll
// the hub held when it began. A read of the hub's epoch makes each tally
// its poll's newest when it has a higher version, or when the room's was
// not made by the database: more than MaxAhead beyond it, or a live tally
// taken before the read began yet of a higher version than it found (the
// worker publishes only what it committed, so a read that begins after a
// true tally arrived finds it or a later one). A read of another epoch (or the
// first) makes it the hub's epoch and each tally its poll's newest
// whatever the versions; when all, a poll the read lacks loses its tally
// of the old epoch (it is read again when asked for). Stored reports
// whether the epoch changed: after a read of some polls only, the caller
// reads the others again.
//
// Two reads that overlap a restore may land in the opposite order and set
// the old epoch back; the next read (at most 15 s later, at once when a
// live tally of the new epoch arrives) sets it right.
func (h *Hub) Stored(tallies map[string]tally.Tally, all bool, began time.Time) bool {
	if len(tallies) == 0 {
		return false
	}
	var epoch string
	for _, t := range tallies {
		epoch = t.Epoch
		break
	}
	h.storeMu.Lock()
	defer h.storeMu.Unlock()
	if cur := h.epoch.Load(); cur != nil && *cur == epoch {
		// Only the polls read can change: no walk over every room (a
		// first view of a poll reads that poll alone).
		for id, t := range tallies {
			if r := h.lookup(id); r != nil && t.Epoch == epoch {
				h.put(r, t, time.Time{}, func() Outcome { return r.judgeStored(t, began) })
			}
		}
		return false
	}
	h.epoch.Store(&epoch)
	h.mu.RLock()
	rooms := make(map[string]*room, len(h.rooms))
	for id, r := range h.rooms {
		rooms[id] = r
	}
	h.mu.RUnlock()
	for id, r := range rooms {
		t, ok := tallies[id]
		switch {
		case ok && t.Epoch == epoch:
			h.put(r, t, time.Time{}, func() Outcome { return r.judgeStored(t, began) })
		default:
			r.mu.Lock()
			if all && r.msg.pm != nil && r.tally.Epoch != epoch {
				r.tally, r.encoded, r.msg, r.liveAt = tally.Tally{}, nil, message{}, time.Time{}
			}
			r.stored = -1
			r.mu.Unlock()
		}
	}
	return true
}

// judgeStored is what Stored does with t, read from the database by a
// query that began at began, in r (locked).
func (r *room) judgeStored(t tally.Tally, began time.Time) Outcome {
	if r.gone {
		return NotHeld
	}
	r.stored = t.Version
	switch {
	case r.msg.pm == nil, r.tally.Epoch != t.Epoch, t.Version > r.tally.Version:
		return Taken
	case r.tally.Version-t.Version > MaxAhead:
		// Only a tally the database never made gets that far ahead.
		return Taken
	case t.Version < r.tally.Version && !r.liveAt.IsZero() && r.liveAt.Before(began):
		// Taken from NATS before the read began, yet the database did not
		// have it: it did not come from the database.
		return Taken
	}
	return Stale
}

// put makes t r's newest tally when judge (called with r locked, twice:
// before and after encoding) says Taken, and wakes r's clients; liveAt is
// when t came from NATS, zero for a read of the database.
func (h *Hub) put(r *room, t tally.Tally, liveAt time.Time, judge func() Outcome) Outcome {
	r.mu.Lock()
	out := judge()
	r.mu.Unlock()
	if out != Taken {
		return out
	}
	// Encode and frame outside the lock; judged again after.
	encoded := t.AppendJSON(make([]byte, 0, 80+24*len(t.Counts)))
	pm := prepare(encoded)
	r.mu.Lock()
	defer r.mu.Unlock()
	if out := judge(); out != Taken {
		return out
	}
	r.seq++
	msg := message{seq: r.seq, pm: pm}
	r.tally, r.encoded, r.msg, r.liveAt = t, encoded, msg, liveAt
	for c := range r.clients {
		if c.offer(msg) {
			h.metrics.Skipped.Inc()
		}
	}
	return Taken
}

// Current returns poll id's newest tally and its JSON (which must not be
// modified), and whether the hub has one.
func (h *Hub) Current(id string) (tally.Tally, []byte, bool) {
	r := h.lookup(id)
	if r == nil {
		return tally.Tally{}, nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msg.pm == nil {
		return tally.Tally{}, nil, false
	}
	r.used = time.Now()
	return r.tally, r.encoded, true
}

// Held returns the ids of the polls the hub holds, for a reload.
func (h *Hub) Held() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.rooms))
	for id := range h.rooms {
		ids = append(ids, id)
	}
	return ids
}

// Sweep forgets the polls that have no client and were last asked for
// before idleSince (pinned polls stay), so that the hub holds what people
// look at, not every poll ever voted in. It returns how many it forgot.
func (h *Hub) Sweep(idleSince time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for id, r := range h.rooms {
		if h.pinned[id] {
			continue
		}
		r.mu.Lock()
		if len(r.clients) == 0 && r.used.Before(idleSince) {
			r.gone = true
			delete(h.rooms, id)
			n++
		}
		r.mu.Unlock()
	}
	h.metrics.Polls.Set(float64(len(h.rooms)))
	return n
}

// Clients returns how many clients are connected, over every poll.
func (h *Hub) Clients() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, r := range h.rooms {
		r.mu.Lock()
		n += len(r.clients)
		r.mu.Unlock()
	}
	return n
}

// Serve runs one client of poll id until it disconnects, its write times
// out or the hub closes: the poll's newest tally first, then every newer
// one, and nothing of other polls.
//
// An idle client costs one goroutine, this one, blocked reading: clients
// send nothing but pongs and close frames, and reading is how those are
// processed and how a vanished client is noticed. Writes run on a
// goroutine of their own that exists only while the client has something
// to be sent (a tally, a ping, the close frame), so a slow client holds up
// no one, and pings come from one ticker of the hub, not one per client.
func (h *Hub) Serve(conn Conn, id string) {
	c, r, ok := h.register(conn, id)
	if !ok {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		return
	}
	defer h.unregister(c, r)

	conn.SetReadLimit(512)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error {
		if c.isEnded() {
			return errEnded
		}
		return conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	// The writer must be gone before Serve returns: the connection is
	// reused by the server once its handler is done.
	c.end(conn)
	c.writer.Wait()
}

var errEnded = errors.New("hub: client ended")

// write is the client's writer: it sends what the mailbox holds until it
// is empty, then ends. A failed write drops the client (Serve's read is
// ended, so Serve returns).
func (h *Hub) write(c *client) {
	for {
		job, ok := c.next()
		if !ok {
			return
		}
		var err error
		switch {
		case job.goingAway:
			_ = c.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
			c.end(c.conn)
			continue
		case job.ping:
			err = c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
		case job.pm != nil:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err = c.conn.WritePreparedMessage(job.pm); err == nil {
				h.metrics.Sent.Inc()
			}
		}
		if err != nil {
			if !c.isEnded() {
				h.metrics.Dropped.Inc()
			}
			c.end(c.conn)
		}
	}
}

// pinger asks every client for a pong each pingPeriod, until the hub
// closes.
func (h *Hub) pinger() {
	t := time.NewTicker(pingPeriod)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.each(func(c *client) { c.queue(func() { c.ping = true }) })
		case <-h.done:
			return
		}
	}
}

// each calls f for every client of every room.
func (h *Hub) each(f func(*client)) {
	h.mu.RLock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	h.mu.RUnlock()
	for _, r := range rooms {
		r.mu.Lock()
		for c := range r.clients {
			f(c)
		}
		r.mu.Unlock()
	}
}

func (h *Hub) register(conn Conn, id string) (*client, *room, bool) {
	for {
		h.mu.RLock()
		closed := h.closed
		if !closed {
			// Counted under mu, so Close cannot start waiting before it.
			h.wg.Add(1)
		}
		h.mu.RUnlock()
		if closed {
			return nil, nil, false
		}
		r := h.room(id)
		r.mu.Lock()
		if r.gone {
			// Swept between lookup and lock: take the new room.
			r.mu.Unlock()
			h.wg.Done()
			continue
		}
		c := &client{hub: h, conn: conn, seq: -1}
		if r.msg.pm != nil {
			c.offer(r.msg)
		}
		r.clients[c] = struct{}{}
		r.used = time.Now()
		r.mu.Unlock()
		h.metrics.Clients.Inc()
		select {
		case <-h.done:
			// Close walked the rooms before this client joined one.
			c.queue(func() { c.goingAway = true })
		default:
		}
		return c, r, true
	}
}

func (h *Hub) unregister(c *client, r *room) {
	r.mu.Lock()
	delete(r.clients, c)
	r.used = time.Now()
	r.mu.Unlock()
	h.metrics.Clients.Dec()
	h.wg.Done()
}

// Close sends every client a close frame and waits, up to timeout, for
// their connections to end; later connections are refused.
func (h *Hub) Close(timeout time.Duration) {
	h.mu.Lock()
	first := !h.closed
	if first {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	if first {
		h.each(func(c *client) { c.queue(func() { c.goingAway = true }) })
	}
	finished := make(chan struct{})
	go func() { h.wg.Wait(); close(finished) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
	}
}

// client is one connection's mailbox: only the newest message waits,
// with a ping or the close frame when one is due.
type client struct {
	hub  *Hub
	conn Conn
	// writer counts the running writer (none or one); none starts once
	// ended is set.
	writer sync.WaitGroup

	mu        sync.Mutex
	seq       int64 // the room's sequence number of the last message queued
	pending   *websocket.PreparedMessage
	ping      bool
	goingAway bool
	writing   bool // a writer runs
	ended     bool // the connection is over: nothing more is written
}

// job is one thing for the writer to send.
type job struct {
	pm        *websocket.PreparedMessage
	ping      bool
	goingAway bool
}

// offer queues msg unless the client already has that message or a later
// one; it reports whether an unsent older message was replaced.
func (c *client) offer(msg message) (skipped bool) {
	c.mu.Lock()
	if msg.seq <= c.seq {
		c.mu.Unlock()
		return false
	}
	skipped = c.pending != nil
	c.pending, c.seq = msg.pm, msg.seq
	c.startLocked()
	c.mu.Unlock()
	return skipped
}

// queue runs set (which marks something to be sent) with c locked and
// makes sure a writer runs.
func (c *client) queue(set func()) {
	c.mu.Lock()
	set()
	c.startLocked()
	c.mu.Unlock()
}

// startLocked starts a writer unless one runs or the client ended.
func (c *client) startLocked() {
	if c.writing || c.ended || c.conn == nil {
		return
	}
	c.writing = true
	c.writer.Add(1)
	go c.hub.write(c)
}

// next returns what the writer sends next; false when there is nothing,
// and the writer ends.
func (c *client) next() (job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var j job
	switch {
	case c.ended:
	case c.goingAway:
		j.goingAway, c.goingAway = true, false
		return j, true
	case c.ping:
		j.ping, c.ping = true, false
		return j, true
	case c.pending != nil:
		j.pm, c.pending = c.pending, nil
		return j, true
	}
	c.writing = false
	c.writer.Done()
	return j, false
}

// take empties the mailbox (the writer uses next).
func (c *client) take() *websocket.PreparedMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	pm := c.pending
	c.pending = nil
	return pm
}

// end marks the connection over: nothing more is written, and its read
// ends, so that Serve returns.
func (c *client) end(conn Conn) {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	now := time.Now()
	_ = conn.SetReadDeadline(now)
	_ = conn.SetWriteDeadline(now)
}

func (c *client) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// Metrics is what the hub reports on /metrics.
type Metrics struct {
	Clients prometheus.Gauge
	Polls   prometheus.Gauge
	Sent    prometheus.Counter
	Skipped prometheus.Counter
	Dropped prometheus.Counter
}

// NewMetrics creates the hub's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "result_websocket_clients", Help: "Connected WebSocket clients."}),
		Polls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "result_polls_held", Help: "Polls whose newest tally the server keeps (looked at lately or with clients)."}),
		Sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_messages_sent_total", Help: "Tally messages written to clients."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_updates_skipped_total", Help: "Tally versions a slow client skipped for a newer one."}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_clients_dropped_total", Help: "Clients disconnected because a write failed or timed out."}),
	}
	reg.MustRegister(m.Clients, m.Polls, m.Sent, m.Skipped, m.Dropped)
	return m
}
