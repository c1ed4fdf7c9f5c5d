// Package pollcache keeps poll definitions in memory. A definition never
// changes once created (only the state does, and that is read from Redis),
// so an entry never goes stale; the cache is bounded so that a flood of
// polls cannot grow the server's memory without end.
package pollcache

import (
	"sync"

	"livevote/shared/poll"
)

// Cache is a bounded map of poll id to definition, safe for concurrent use.
// When full, the oldest entry makes room (first in, first out): polls in use
// are looked up again at once and come back.
type Cache struct {
	mu    sync.RWMutex
	max   int
	items map[string]poll.Record
	order []string // ids in insertion order, a ring of len max
	next  int
}

// New returns a Cache of at most size definitions (at least 1).
func New(size int) *Cache {
	size = max(size, 1)
	return &Cache{max: size, items: make(map[string]poll.Record, size), order: make([]string, 0, size)}
}

// Get returns the definition of id and whether the cache holds it.
func (c *Cache) Get(id string) (poll.Record, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.items[id]
	return r, ok
}

// Put keeps r, by its id.
func (c *Cache) Put(r poll.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[r.ID]; ok {
		c.items[r.ID] = r
		return
	}
	if len(c.order) < c.max {
		c.order = append(c.order, r.ID)
	} else {
		delete(c.items, c.order[c.next])
		c.order[c.next] = r.ID
		c.next = (c.next + 1) % c.max
	}
	c.items[r.ID] = r
}

// Len returns how many definitions the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}
