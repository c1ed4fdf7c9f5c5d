// Package hub is the result server's one owner of "the newest tally" of
// each poll, and fans each new tally out to that poll's WebSocket clients.
//
// Per poll the hub keeps a room: the tally, its JSON (encoded once), the
// WebSocket frame (framed once) and the set of the poll's clients. A tally
// replaces the room's only as the rules below say, and wakes only that
// room's clients. Each client has a mailbox that holds only the newest
// message; a few writer goroutines of the hub (one per shard of clients)
// write each woken client's message without waiting for its socket, and
// a client whose socket is full gets a goroutine of its own until it has
// caught up: so a slow client skips intermediate versions (or is dropped
// when a write times out) and never holds up the others. Rooms cost no
// goroutine or timer: an idle room is only memory, and Sweep forgets the
// ones nobody looked at for a while.
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
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/tally"
)

// Conn is the part of a WebSocket connection the hub uses. The hub reads
// through the WebSocket library (pongs, close frames) and writes whole
// frames it made itself to the connection under it, so that it can try a
// write without waiting: every frame the server sends goes through the
// hub, never through the library's writer.
type Conn interface {
	// TryWrite writes what the socket takes of b now, without waiting;
	// n < len(b) with a nil error means the socket is full.
	TryWrite(b []byte) (n int, err error)
	// Write writes all of b, waiting for the socket up to the write
	// deadline.
	Write(b []byte) (n int, err error)
	// SetWriteDeadline sets the deadline of Write and TryWrite (the zero
	// time: none).
	SetWriteDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetReadLimit(limit int64)
	SetPongHandler(h func(appData string) error)
	// SetPingHandler replaces the library's answer to a client's ping,
	// which would write a pong beside the hub's frames.
	SetPingHandler(h func(appData string) error)
	// SetCloseHandler replaces the library's answer to a client's close
	// frame, for the same reason. The library must not write at all once
	// the hub has the connection (its other writes, close frames after a
	// protocol error or an oversized message, would hold the socket's
	// write lock for up to a second while the hub's writer waits on it):
	// the server mutes it before handing the connection over.
	SetCloseHandler(h func(code int, text string) error)
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

	// shards write to the clients, each to its own share of them;
	// nextShard deals new clients out in turn. halt stops them.
	shards    []*shard
	nextShard atomic.Uint32
	halt      chan struct{}
	haltOnce  sync.Once
}

// room is one poll: its newest tally and its clients.
type room struct {
	mu      sync.Mutex
	tally   tally.Tally
	encoded []byte
	msg     message // msg.frame is nil until the first tally
	// seq counts the tallies the room took: clients' mailboxes order
	// messages by it, since versions go back when the epoch changes.
	seq int64
	// stored is the version last read from the database for this poll
	// under the hub's epoch, -1 when none.
	stored int64
	// liveAt is when the room's tally was taken from NATS; zero when it
	// was read from the database.
	liveAt time.Time
	// clients in the order they joined (a leaving client's place goes to
	// the last one): writing to them in that order walks the server's and
	// the kernel's memory for them in the order it was allocated, which on
	// 10,000 sockets costs far fewer cache misses than a map's random
	// order (make bench: the result server's CPU per tally to 10,000
	// clients 110 -> 92 ms, the floor's server 74 ms).
	clients []*client
	used    time.Time // last time a page, API call or client asked for it
	gone    bool      // swept: a new room replaces it
}

type message struct {
	seq   int64
	frame []byte // the whole WebSocket frame, shared by every client
}

// New returns a Hub that holds the pinned polls from the start (waiting
// for their first tally) and never sweeps them.
func New(m *Metrics, pinned ...string) *Hub {
	h := &Hub{metrics: m, pinned: make(map[string]bool), rooms: make(map[string]*room),
		done: make(chan struct{}), halt: make(chan struct{})}
	for _, id := range pinned {
		h.pinned[id] = true
		h.room(id)
	}
	// As many writers as cores: each write is a system call that keeps
	// its core busy (on loopback it also runs the reader's side), and more
	// writers than cores would only take turns.
	h.shards = make([]*shard, max(2, runtime.GOMAXPROCS(0)))
	for i := range h.shards {
		h.shards[i] = &shard{wake: make(chan struct{}, 1)}
		go h.runShard(h.shards[i])
	}
	go h.pinger()
	return h
}

// WebSocket opcodes (RFC 6455, 5.2) of the frames the hub sends.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// frame returns the unmasked, unfragmented server frame of opcode op
// carrying payload: what every client of a poll is sent, framed once.
func frame(op byte, payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, n+10)
	b = append(b, 0x80|op) // FIN, no extension bits
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// goingAwayFrame is the close frame (1001, going away) sent at shutdown.
var goingAwayFrame = frame(opClose, append([]byte{0x03, 0xE9}, "server shutting down"...))

// pingFrame asks a client for a pong.
var pingFrame = frame(opPing, nil)

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
		r = &room{used: time.Now(), stored: -1}
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
	case r.msg.frame != nil && r.tally.Epoch == t.Epoch && t.Version <= r.tally.Version:
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
			if all && r.msg.frame != nil && r.tally.Epoch != epoch {
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
	case r.msg.frame == nil, r.tally.Epoch != t.Epoch, t.Version > r.tally.Version:
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
	msg := message{frame: frame(opText, encoded)}
	r.mu.Lock()
	if out := judge(); out != Taken {
		r.mu.Unlock()
		return out
	}
	r.seq++
	msg.seq = r.seq
	r.tally, r.encoded, r.msg, r.liveAt = t, encoded, msg, liveAt
	// The clients to wake, by shard: each shard is handed its share at
	// once, after the walk, not one client at a time.
	woken := make([][]*client, len(h.shards))
	for i := range woken {
		woken[i] = make([]*client, 0, len(r.clients)/len(woken)+1)
	}
	skipped := 0
	for _, c := range r.clients {
		wake, skip := c.offer(msg)
		if skip {
			skipped++
		}
		if wake {
			woken[c.shard] = append(woken[c.shard], c)
		}
	}
	r.mu.Unlock()
	if skipped > 0 {
		h.metrics.Skipped.Add(float64(skipped))
	}
	for i, cs := range woken {
		h.shards[i].push(cs...)
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
	if r.msg.frame == nil {
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
// send nothing but pongs, pings and close frames, and reading is how those
// are processed and how a vanished client is noticed. The client's shard
// writes to it without waiting; only while its socket is full does it
// have a writing goroutine of its own (see flush). Pings come from one
// ticker of the hub, not one per client.
func (h *Hub) Serve(conn Conn, id string) {
	c, r, ok := h.register(conn, id)
	if !ok {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(goingAwayFrame)
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
	conn.SetPingHandler(func(data string) error {
		// Answered by the client's writer, in turn with the hub's frames.
		pong := frame(opPong, []byte(data))
		h.queue(c, func() { c.pong = pong })
		return nil
	})
	// The client's close frame is answered with its code (RFC 6455, 5.5.1)
	// once nothing else is written: the library's own answer would write
	// beside the hub's frames (and is muted: see Conn).
	var echo []byte
	conn.SetCloseHandler(func(code int, _ string) error {
		echo = frame(opClose, nil)
		if code != closeNoStatus {
			echo = frame(opClose, binary.BigEndian.AppendUint16(nil, uint16(code)))
		}
		return nil
	})
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	// No write may be under way when Serve returns: the connection is
	// closed by the server once its handler is done.
	c.end(conn)
	c.writer.Wait()
	c.mu.Lock()
	torn := c.torn
	c.mu.Unlock()
	if echo != nil && !torn {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(echo)
	}
}

// closeNoStatus is the code a close frame without one reads as (RFC 6455,
// 7.4.1: 1005, never sent on the wire).
const closeNoStatus = 1005

var errEnded = errors.New("hub: client ended")

// shard is a writer goroutine's share of the clients: the ones woken
// since it last looked.
type shard struct {
	mu    sync.Mutex
	queue []*client
	wake  chan struct{} // holds a value when queue may not be empty
}

// push hands woken clients to the shard's writer.
func (s *shard) push(cs ...*client) {
	if len(cs) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, cs...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runShard writes to the clients pushed to s until the hub halts: each
// client's frames in turn, none of them waiting for a socket.
func (h *Hub) runShard(s *shard) {
	var batch []*client
	for {
		select {
		case <-s.wake:
		case <-h.halt:
			return
		}
		for {
			s.mu.Lock()
			batch, s.queue = s.queue, batch[:0]
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			sent := 0
			for i, c := range batch {
				sent += h.flush(c)
				batch[i] = nil // holds no client past its turn
			}
			if sent > 0 {
				h.metrics.Sent.Add(float64(sent))
			}
		}
	}
}

// flush writes what c's mailbox holds, each frame as far as its socket
// takes it without waiting, and returns how many tallies it wrote whole.
// The mailbox is emptied under one lock: whatever arrives while flush
// writes hands c to its shard again. A socket that is full hands the
// rest of the frame, what followed it and the mailbox from then on to a
// goroutine of the client's own (writeSlow), which waits for the socket
// up to writeWait: one slow client holds up no other.
func (h *Hub) flush(c *client) (sent int) {
	var buf [4]job // at most the close frame, a pong, a ping and a tally
	c.mu.Lock()
	c.queued = false
	if c.slow {
		c.mu.Unlock()
		return 0
	}
	jobs := c.takeLocked(buf[:0])
	if len(jobs) == 0 {
		c.mu.Unlock()
		return 0
	}
	c.writer.Add(1)
	c.mu.Unlock()
	for i, j := range jobs {
		n, err := c.conn.TryWrite(j.frame)
		switch {
		case err != nil:
			h.failed(c)
			c.writer.Done()
			return sent
		case n < len(j.frame):
			c.mu.Lock()
			c.slow = true
			c.torn = n > 0 // part of a frame is out; writeSlow sends the rest
			c.mu.Unlock()
			rest := append([]job(nil), jobs[i:]...)
			rest[0].frame = j.frame[n:]
			go h.writeSlow(c, rest) // it carries the writer's count
			return sent
		}
		if j.tally {
			sent++
		}
		if j.goingAway {
			c.end(c.conn)
		}
	}
	c.writer.Done()
	return sent
}

// writeSlow is the goroutine of a client whose socket was full: it writes
// jobs, then whatever the mailbox holds, each write waiting up to
// writeWait, and gives the client back to its shard once the mailbox is
// empty. A failed or timed-out write drops the client.
func (h *Hub) writeSlow(c *client, jobs []job) {
	defer c.writer.Done()
	for {
		for _, j := range jobs {
			// The deadline is set and cleared under the client's lock, and
			// only while it has not ended: end's deadline (now) is never
			// replaced, so an ended client's write fails at once.
			c.mu.Lock()
			if c.ended {
				c.mu.Unlock()
				return
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			c.torn = true // until the frame is out whole
			c.mu.Unlock()
			_, err := c.conn.Write(j.frame)
			c.mu.Lock()
			if !c.ended {
				// The shard's writes do not wait: a deadline left behind
				// would fail them once passed.
				_ = c.conn.SetWriteDeadline(time.Time{})
			}
			if err == nil {
				c.torn = false
			}
			c.mu.Unlock()
			if err != nil {
				h.failed(c)
				return
			}
			if j.tally {
				h.metrics.Sent.Inc()
			}
			if j.goingAway {
				c.end(c.conn)
				return
			}
		}
		c.mu.Lock()
		if jobs = c.takeLocked(jobs[:0]); len(jobs) == 0 {
			c.slow = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// failed drops c after a write failed, counting it unless the connection
// had ended already (a write cut short by the end is no failure).
func (h *Hub) failed(c *client) {
	if !c.isEnded() {
		h.metrics.Dropped.Inc()
	}
	c.end(c.conn)
}

// queue runs set (which marks something to be sent) with c locked and
// hands c to its shard's writer if it is not on its way there.
func (h *Hub) queue(c *client, set func()) {
	c.mu.Lock()
	set()
	wake := c.wakeLocked()
	c.mu.Unlock()
	if wake {
		h.shards[c.shard].push(c)
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
			h.each(func(c *client) { h.queue(c, func() { c.ping = true }) })
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
		cs := append([]*client(nil), r.clients...)
		r.mu.Unlock()
		for _, c := range cs {
			f(c)
		}
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
		c := &client{conn: conn, seq: -1, shard: int((h.nextShard.Add(1) - 1) % uint32(len(h.shards)))}
		wake := false
		if r.msg.frame != nil {
			wake, _ = c.offer(r.msg)
		}
		c.slot = len(r.clients)
		r.clients = append(r.clients, c)
		r.used = time.Now()
		r.mu.Unlock()
		if wake {
			h.shards[c.shard].push(c)
		}
		h.metrics.Clients.Inc()
		select {
		case <-h.done:
			// Close walked the rooms before this client joined one.
			h.queue(c, func() { c.goingAway = true })
		default:
		}
		return c, r, true
	}
}

func (h *Hub) unregister(c *client, r *room) {
	r.mu.Lock()
	last := r.clients[len(r.clients)-1]
	r.clients[c.slot], last.slot = last, c.slot
	r.clients[len(r.clients)-1] = nil
	r.clients = r.clients[:len(r.clients)-1]
	r.used = time.Now()
	r.mu.Unlock()
	h.metrics.Clients.Dec()
	h.wg.Done()
}

// Close sends every client a close frame and waits, up to timeout, for
// their connections to end; later connections are refused. The writers
// stop after.
func (h *Hub) Close(timeout time.Duration) {
	h.mu.Lock()
	first := !h.closed
	if first {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	if first {
		h.each(func(c *client) { h.queue(c, func() { c.goingAway = true }) })
	}
	finished := make(chan struct{})
	go func() { h.wg.Wait(); close(finished) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
	}
	h.haltOnce.Do(func() { close(h.halt) })
}

// client is one connection's mailbox: only the newest tally waits, with a
// ping, a pong or the close frame when one is due.
type client struct {
	conn  Conn
	shard int // index of the shard that writes to it
	slot  int // index in its room's clients (guarded by the room's mu)
	// writer counts the writes under way (none or one); none starts once
	// ended is set.
	writer sync.WaitGroup

	mu        sync.Mutex
	seq       int64  // the room's sequence number of the last message queued
	pending   []byte // the newest tally's frame, not written yet
	ping      bool
	pong      []byte // the pong frame answering the client's last ping
	goingAway bool
	queued    bool // on its way to or in its shard's queue
	slow      bool // its socket was full: writeSlow writes to it
	torn      bool // part of a frame is out and the rest not (yet)
	ended     bool // the connection is over: nothing more is written
}

// job is one frame for a writer to send.
type job struct {
	frame     []byte
	tally     bool // a tally (counted as sent)
	goingAway bool // the close frame: the connection ends after it
}

// offer puts msg in the mailbox unless the client already has that
// message or a later one; it reports whether the client must be handed to
// its shard, and whether an unsent older message was replaced.
func (c *client) offer(msg message) (wake, skipped bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg.seq <= c.seq {
		return false, false
	}
	skipped = c.pending != nil
	c.pending, c.seq = msg.frame, msg.seq
	return c.wakeLocked(), skipped
}

// wakeLocked marks c as handed to its shard and reports whether the
// caller must push it: not when it is already on its way, has a writer
// of its own, ended, or has no connection (benchmarks, tests).
func (c *client) wakeLocked() bool {
	if c.queued || c.slow || c.ended || c.conn == nil {
		return false
	}
	c.queued = true
	return true
}

// nextLocked takes what is sent next out of the mailbox: the close frame,
// a pong, a ping, then the newest tally; false when nothing is, or the
// connection ended.
func (c *client) nextLocked() (job, bool) {
	switch {
	case c.ended:
	case c.goingAway:
		c.goingAway = false
		return job{frame: goingAwayFrame, goingAway: true}, true
	case c.pong != nil:
		j := job{frame: c.pong}
		c.pong = nil
		return j, true
	case c.ping:
		c.ping = false
		return job{frame: pingFrame}, true
	case c.pending != nil:
		j := job{frame: c.pending, tally: true}
		c.pending = nil
		return j, true
	}
	return job{}, false
}

// takeLocked appends to jobs what the mailbox holds, in the order it is
// sent, and empties it; nothing after the close frame.
func (c *client) takeLocked(jobs []job) []job {
	for {
		j, ok := c.nextLocked()
		if !ok {
			return jobs
		}
		jobs = append(jobs, j)
		if j.goingAway {
			return jobs
		}
	}
}

// take empties the mailbox of its tally (the writers use takeLocked).
func (c *client) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.pending
	c.pending = nil
	return b
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
