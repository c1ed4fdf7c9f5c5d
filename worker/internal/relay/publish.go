package relay

import (
	"github.com/nats-io/nats.go"

	"livevote/shared/tally"
)

// NATSPublisher publishes tallies as the contract's JSON on one subject.
type NATSPublisher struct {
	nc      *nats.Conn
	subject string
}

// NewNATSPublisher returns a publisher on nc.
func NewNATSPublisher(nc *nats.Conn, subject string) *NATSPublisher {
	return &NATSPublisher{nc: nc, subject: subject}
}

// Publish sends t. While NATS reconnects the client buffers the message and
// sends it on reconnection.
func (p *NATSPublisher) Publish(t tally.Tally) error {
	return p.nc.Publish(p.subject, t.AppendJSON(make([]byte, 0, 128)))
}
