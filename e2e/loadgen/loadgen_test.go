package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"livevote/shared/poll"
)

func TestTallyFields(t *testing.T) {
	tests := []struct {
		in             string
		version, total int64
	}{
		{`{"version":42,"counts":{"a":10,"b":7},"total":17,"updated_at":"2026-11-26T19:30:00.123Z"}`, 42, 17},
		{`{"version":0,"counts":{"a":0,"b":0},"total":0}`, 0, 0},
		{`{}`, -1, -1},
	}
	for _, tt := range tests {
		v, n := tallyFields([]byte(tt.in))
		if v != tt.version || n != tt.total {
			t.Errorf("tallyFields(%s) = %d, %d; want %d, %d", tt.in, v, n, tt.version, tt.total)
		}
	}
}

func TestVoterIDFrom(t *testing.T) {
	if got := voterIDFrom([]byte(`{"voter_id":"AbC-_0123456789abcdefg","vote":"a"}`)); got != "AbC-_0123456789abcdefg" {
		t.Errorf("got %q", got)
	}
	if got := voterIDFrom([]byte(`{"error":"x"}`)); got != "" {
		t.Errorf("got %q from an error body, want empty", got)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	p := percentiles(d)
	if p.p50 != 51 || p.p99 != 100 || p.max != 100 {
		t.Errorf("got %+v, want p50 51, p99 100, max 100 (ms)", p)
	}
	if (percentiles(nil) != pct{}) {
		t.Error("percentiles of nothing is not zero")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-rates", "100, 500"}, true},
		{[]string{"-rates", "fast"}, false},
		{[]string{"-phases", "ingest,warp"}, false},
		{[]string{"-vote", "http://127.0.0.1:8080"}, false},
		{[]string{"-phases", "polls", "-polls", "10"}, true},
		{[]string{"-polls", "0"}, false},
		{[]string{"-limits", "on"}, true},
		{[]string{"-limits", "default"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) error = %v, want ok=%v", tt.args, err, tt.ok)
		}
	}
}

func TestPollDefinitionsAreValidAndCoverEverySize(t *testing.T) {
	sizes := map[int]bool{}
	for i := 0; i < 22; i++ {
		d := pollDefinition(i)
		if _, err := poll.New("p", d.Question, d.Options, time.Now()); err != nil {
			t.Errorf("pollDefinition(%d) is refused: %v", i, err)
		}
		sizes[len(d.Options)] = true
	}
	for n := poll.MinOptions; n <= poll.MaxOptions; n++ {
		if !sizes[n] {
			t.Errorf("no poll with %d options among the first 22", n)
		}
	}
}

func TestOtherOption(t *testing.T) {
	for i := 0; i < 100; i++ {
		if got := otherOption([]string{"a", "b", "c"}, "b"); got == "b" {
			t.Fatalf("otherOption returned the current option %q", got)
		}
	}
}

func TestWaitExact(t *testing.T) {
	want := []map[string]int64{{"a": 1, "b": 0}, {"a": 0, "b": 2, "c": 0}}
	reads := 0
	c := exactChecker{by: "test", read: func(context.Context, []bool) ([]map[string]int64, error) {
		reads++
		if reads == 1 {
			return []map[string]int64{{"a": 1, "b": 0}, {"a": 0, "b": 1, "c": 0}}, nil
		}
		return []map[string]int64{{"a": 1, "b": 0}, {"a": 0, "b": 2, "c": 0}}, nil
	}}
	if err := waitExact(context.Background(), c, want, time.Second); err != nil {
		t.Fatalf("got %v, want the counts to be seen exact", err)
	}
	// A poll missing an option is not exact, however the rest compares.
	never := exactChecker{by: "test", read: func(context.Context, []bool) ([]map[string]int64, error) {
		return []map[string]int64{{"a": 1}, {"a": 0, "b": 2, "c": 0}}, nil
	}}
	if err := waitExact(context.Background(), never, want, 100*time.Millisecond); err == nil {
		t.Fatal("got nil, want an error naming the poll that is not exact")
	}
	// A poll that leaves its final figures before the confirming pass is
	// waited for again.
	reads = 0
	flaky := exactChecker{by: "test", read: func(context.Context, []bool) ([]map[string]int64, error) {
		reads++
		if reads == 2 {
			return nil, errors.New("down")
		}
		return want, nil
	}}
	if err := waitExact(context.Background(), flaky, want, time.Second); err != nil || reads < 3 {
		t.Fatalf("got %v after %d reads, want exact after a failed confirming read", err, reads)
	}
}

func TestSources(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{1, 1}, {perSource, 1}, {perSource + 1, 2}, {50000, 3}} {
		if got := sources(tt.n); got != tt.want {
			t.Errorf("sources(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		i    int
		want string
	}{{0, "127.0.0.1"}, {perSource - 1, "127.0.0.1"}, {perSource, "127.0.0.2"}, {2 * perSource, "127.0.0.3"}} {
		if got := sourceDialer(tt.i).LocalAddr.(*net.TCPAddr).IP.String(); got != tt.want {
			t.Errorf("socket %d from %s, want %s", tt.i, got, tt.want)
		}
	}
}

// TestWSClientNext: the generator's client reads text frames of every
// length form, answers a ping with a masked pong of its payload, and
// reports the server's close.
func TestWSClientNext(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	c := &wsClient{conn: client, br: bufio.NewReader(client)}
	long := bytes.Repeat([]byte("x"), 300)
	go func() {
		_, _ = server.Write([]byte{0x89, 2, 'h', 'i'}) // ping "hi"
		pong := make([]byte, 8)
		if _, err := io.ReadFull(server, pong); err != nil || !bytes.Equal(pong, []byte{0x8A, 0x82, 0, 0, 0, 0, 'h', 'i'}) {
			t.Errorf("pong % x %v, want a masked pong of \"hi\"", pong, err)
		}
		_, _ = server.Write(append([]byte{0x81, 5}, "hello"...))
		_, _ = server.Write(append([]byte{0x81, 126, 1, 44}, long...))
		_, _ = server.Write([]byte{0x88, 0})
	}()
	buf := make([]byte, 256)
	if b, err := c.next(buf); err != nil || string(b) != "hello" {
		t.Fatalf("first message %q %v, want hello", b, err)
	}
	if b, err := c.next(buf); err != nil || !bytes.Equal(b, long[:256]) {
		t.Fatalf("long message: %d bytes %v, want its first 256", len(b), err)
	}
	if _, err := c.next(buf); !errors.Is(err, errClosed) {
		t.Fatalf("after the close frame: %v, want errClosed", err)
	}
}
