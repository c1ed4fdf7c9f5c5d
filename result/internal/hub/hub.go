// Package hub fans each new tally out to every WebSocket client. Each
// client has one writer goroutine and a mailbox that holds only the newest
// message, so a slow client skips intermediate versions (or is dropped when
// a write times out) and never holds up the broadcast or other clients.
package hub

import (
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus"
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

// Hub is the registry of connected clients and the latest message.
type Hub struct {
	metrics *Metrics

	mu      sync.RWMutex
	clients map[*client]struct{}
	latest  message
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
}

type message struct {
	version int64
	pm      *websocket.PreparedMessage
}

// New returns a Hub whose latest message is initial (the tally at version).
func New(m *Metrics, version int64, initial []byte) *Hub {
	h := &Hub{metrics: m, clients: make(map[*client]struct{}), done: make(chan struct{})}
	h.latest = prepare(version, initial)
	return h
}

func prepare(version int64, b []byte) message {
	// Framed once here, written as is to every client.
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		// Only compression can fail, and it is off.
		panic(err)
	}
	return message{version: version, pm: pm}
}

// Broadcast makes encoded (the tally at version) the latest message and
// queues it for every client. It never blocks on a client.
func (h *Hub) Broadcast(version int64, encoded []byte) {
	msg := prepare(version, encoded)
	h.mu.Lock()
	if version > h.latest.version {
		h.latest = msg
	}
	h.mu.Unlock()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		if c.offer(msg) {
			h.metrics.Skipped.Inc()
		}
	}
}

// Clients returns how many clients are connected.
func (h *Hub) Clients() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// Serve runs one client until it disconnects, its write times out or the
// hub closes: the latest message first, then every newer one.
func (h *Hub) Serve(conn Conn) {
	c, ok := h.register()
	if !ok {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		return
	}
	defer h.unregister(c)

	gone := make(chan struct{})
	go func() {
		// Clients send nothing but pongs and close frames; reading is how
		// those are processed and how a vanished client is noticed.
		defer close(gone)
		conn.SetReadLimit(512)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-c.wake:
			pm := c.take()
			if pm == nil {
				continue
			}
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WritePreparedMessage(pm); err != nil {
				h.metrics.Dropped.Inc()
				return
			}
			h.metrics.Sent.Inc()
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				h.metrics.Dropped.Inc()
				return
			}
		case <-gone:
			return
		case <-h.done:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
			return
		}
	}
}

func (h *Hub) register() (*client, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	c := &client{version: -1, wake: make(chan struct{}, 1)}
	c.offer(h.latest)
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.metrics.Clients.Inc()
	return c, true
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.metrics.Clients.Dec()
	h.wg.Done()
}

// Close sends every client a close frame and waits, up to timeout, for
// their writers to end; later connections are refused.
func (h *Hub) Close(timeout time.Duration) {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	finished := make(chan struct{})
	go func() { h.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(timeout):
	}
}

// client is one connection's mailbox: only the newest message waits.
type client struct {
	mu      sync.Mutex
	version int64 // highest version queued
	pending *websocket.PreparedMessage
	wake    chan struct{}
}

// offer queues msg unless the client already has that version or newer;
// it reports whether an unsent older message was replaced.
func (c *client) offer(msg message) (skipped bool) {
	c.mu.Lock()
	if msg.version <= c.version {
		c.mu.Unlock()
		return false
	}
	skipped = c.pending != nil
	c.pending, c.version = msg.pm, msg.version
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return skipped
}

func (c *client) take() *websocket.PreparedMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	pm := c.pending
	c.pending = nil
	return pm
}

// Metrics is what the hub reports on /metrics.
type Metrics struct {
	Clients prometheus.Gauge
	Sent    prometheus.Counter
	Skipped prometheus.Counter
	Dropped prometheus.Counter
}

// NewMetrics creates the hub's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "result_websocket_clients", Help: "Connected WebSocket clients."}),
		Sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_messages_sent_total", Help: "Tally messages written to clients."}),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_updates_skipped_total", Help: "Tally versions a slow client skipped for a newer one."}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "result_websocket_clients_dropped_total", Help: "Clients disconnected because a write failed or timed out."}),
	}
	reg.MustRegister(m.Clients, m.Sent, m.Skipped, m.Dropped)
	return m
}
