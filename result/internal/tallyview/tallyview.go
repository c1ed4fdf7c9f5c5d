// Package tallyview keeps the newest tally the result server knows, encoded
// once, and tells a listener about each newer one.
package tallyview

import (
	"sync"

	"livevote/shared/tally"
)

// Listener receives each newer tally with its JSON encoding, in version
// order. It is called with the view locked and must not block.
type Listener func(t tally.Tally, encoded []byte)

// View is the newest tally seen. Versions can arrive out of order (NATS,
// a reload from PostgreSQL, several workers): the highest wins.
type View struct {
	mu       sync.RWMutex
	current  tally.Tally
	encoded  []byte
	loaded   bool
	listener Listener
}

// New returns a View holding the empty tally until a real one arrives.
func New(listener Listener) *View {
	t := tally.Empty()
	return &View{current: t, encoded: t.AppendJSON(nil), listener: listener}
}

// Offer makes t current if it is newer, or if it is the first tally
// offered, and reports whether it did.
func (v *View) Offer(t tally.Tally) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	first := !v.loaded
	v.loaded = true
	if !t.Newer(v.current) && !(first && t.Version == v.current.Version) {
		return false
	}
	v.current = t
	v.encoded = t.AppendJSON(make([]byte, 0, 128))
	if v.listener != nil {
		v.listener(t, v.encoded)
	}
	return true
}

// Current returns the newest tally and its JSON encoding; the bytes must
// not be modified.
func (v *View) Current() (tally.Tally, []byte) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.current, v.encoded
}

// Loaded reports whether any real tally has been offered yet.
func (v *View) Loaded() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.loaded
}
