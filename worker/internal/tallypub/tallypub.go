// Package tallypub publishes committed tallies on NATS: poll p's on
// <subject>.p, the default poll's also on <subject> itself, as version 1
// did.
package tallypub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

// ErrNotConnected reports that NATS does not answer at the moment.
var ErrNotConnected = errors.New("tallypub: not connected to NATS")

// Publisher is the worker's NATS connection.
type Publisher struct {
	// Reconnects counts reconnections to NATS, for /metrics.
	Reconnects prometheus.Counter

	nc      *nats.Conn
	subject string
	logger  *slog.Logger

	mu          sync.Mutex
	onReconnect func()
}

// Connect connects to the NATS servers of url (several separated by
// commas) in the background, for ever: NATS may not be up yet, and a
// connection lost is connected again.
func Connect(url, subject string, logger *slog.Logger) (*Publisher, error) {
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "worker_nats_reconnects_total", Help: "Reconnections to NATS."})
	p := &Publisher{Reconnects: reconnects, subject: subject, logger: logger}
	nc, err := nats.Connect(url,
		nats.Name("worker"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ConnectHandler(func(c *nats.Conn) {
			// Redacted: NATS_URL carries the worker user's password.
			logger.Info("nats connected", "url", c.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			reconnects.Inc()
			logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			p.mu.Lock()
			f := p.onReconnect
			p.mu.Unlock()
			if f != nil {
				// The handler runs on the client's callback goroutine: a
				// slow announcement must not hold up other callbacks.
				go f()
			}
		}),
	)
	if err != nil {
		// nats.go's errors do not carry the URL, so no password leaks here.
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	p.nc = nc
	return p, nil
}

// OnReconnect sets what runs (on a goroutine of its own) after each
// reconnection: subscribers cut off with the worker may have missed
// tallies.
func (p *Publisher) OnReconnect(f func()) {
	p.mu.Lock()
	p.onReconnect = f
	p.mu.Unlock()
}

// Publish sends t on its poll's subject, and the default poll's also on
// the bare subject. While NATS reconnects the client buffers the messages
// and sends them on reconnection.
func (p *Publisher) Publish(t tally.Tally) error {
	data := t.AppendJSON(make([]byte, 0, 160))
	if err := p.nc.Publish(tally.Subject(p.subject, t.Poll), data); err != nil {
		return fmt.Errorf("publishing tally of %s: %w", t.Poll, err)
	}
	if t.Poll == poll.DefaultID {
		if err := p.nc.Publish(p.subject, data); err != nil {
			return fmt.Errorf("publishing tally of %s: %w", t.Poll, err)
		}
	}
	return nil
}

// Check reports whether NATS is connected, for /readyz.
func (p *Publisher) Check(context.Context) error {
	if !p.nc.IsConnected() {
		return fmt.Errorf("%w (%s)", ErrNotConnected, strings.ToLower(p.nc.Status().String()))
	}
	return nil
}

// Close sends what is buffered and closes the connection (Drain), or
// closes it at once when draining fails.
func (p *Publisher) Close() {
	if err := p.nc.Drain(); err != nil {
		p.nc.Close()
	}
}
