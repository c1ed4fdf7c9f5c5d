package web

import "sync"

// Reasons a WebSocket client is refused for a cap, as counted in
// result_websocket_refused_total.
const (
	refusedMaxClients    = "max_clients"
	refusedMaxPerAddress = "max_per_address"
)

// limiter counts the live WebSocket clients, in all and per client
// address, so that one host (or everyone) cannot hold more sockets than
// the server is meant to carry. It calls nothing while it holds its lock.
type limiter struct {
	max, perAddress int

	mu     sync.Mutex
	total  int
	byAddr map[string]int // only addresses with live clients: no growth
}

func newLimiter(max, perAddress int) *limiter {
	return &limiter{max: max, perAddress: perAddress, byAddr: make(map[string]int)}
}

// full returns the reason a new client of addr would be refused now, or
// "" when it would be admitted. It counts nothing: the handshake checks it
// so that most refusals are a plain 503 before the upgrade.
func (l *limiter) full(addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reasonLocked(addr)
}

// join counts a client of addr, unless a cap is reached, and then returns
// the reason. Checking again here keeps the caps exact when handshakes
// race: counting at the handshake instead could leak a slot whenever the
// upgrade response fails to go out and the client never joins.
func (l *limiter) join(addr string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if why := l.reasonLocked(addr); why != "" {
		return why
	}
	l.total++
	l.byAddr[addr]++
	return ""
}

// leave forgets a client of addr that joined.
func (l *limiter) leave(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[addr] - 1; n > 0 {
		l.byAddr[addr] = n
	} else {
		delete(l.byAddr, addr)
	}
}

func (l *limiter) reasonLocked(addr string) string {
	switch {
	case l.total >= l.max:
		return refusedMaxClients
	case l.byAddr[addr] >= l.perAddress:
		return refusedMaxPerAddress
	}
	return ""
}
