package pollcache

import (
	"fmt"
	"testing"

	"livevote/shared/poll"
)

func rec(id string) poll.Record {
	return poll.Record{Poll: poll.Poll{ID: id, Question: "q " + id}}
}

func TestCacheKeepsAndBounds(t *testing.T) {
	c := New(3)
	for i := 0; i < 5; i++ {
		c.Put(rec(fmt.Sprint("p", i)))
	}
	if got := c.Len(); got != 3 {
		t.Errorf("got %d entries, want 3", got)
	}
	for _, tt := range []struct {
		id   string
		want bool
	}{{"p0", false}, {"p1", false}, {"p2", true}, {"p3", true}, {"p4", true}} {
		if r, ok := c.Get(tt.id); ok != tt.want || (ok && r.Question != "q "+tt.id) {
			t.Errorf("Get(%s) = %+v, %v; want present %v", tt.id, r, ok, tt.want)
		}
	}
	// Putting an id again replaces it without evicting another.
	c.Put(poll.Record{Poll: poll.Poll{ID: "p4", Question: "new"}})
	if r, _ := c.Get("p4"); r.Question != "new" || c.Len() != 3 {
		t.Errorf("got %q with %d entries, want new with 3", r.Question, c.Len())
	}
	if _, ok := c.Get("p2"); !ok {
		t.Error("replacing p4 evicted p2")
	}
}
