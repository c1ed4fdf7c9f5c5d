package tallypub

import (
	"crypto/rand"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"livevote/shared/poll"
	"livevote/shared/tally"
)

func TestPublishSubjects(t *testing.T) {
	url := os.Getenv("TEST_NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	sub, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("NATS at TEST_NATS_URL (%s) is unreachable: %v; start it with `make services`", url, err)
	}
	defer sub.Close()
	base := "test_" + strings.ToLower(rand.Text()[:10])
	all, _ := sub.SubscribeSync(tally.Wildcard(base))
	bare, _ := sub.SubscribeSync(base)
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	p, err := Connect(url, base, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	at := time.Unix(0, 0)
	for _, id := range []string{"p1", poll.DefaultID} {
		if err := p.Publish(tally.New(id, 1, []string{"a", "b"}, nil, "", at)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{base + ".p1", base + ".default"} {
		m, err := all.NextMsg(2 * time.Second)
		if err != nil || m.Subject != want {
			t.Fatalf("wildcard got %v (err %v), want a message on %s", m, err, want)
		}
	}
	m, err := bare.NextMsg(2 * time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"poll":"default"`) {
		t.Fatalf("bare subject got %v (err %v), want the default poll's tally", m, err)
	}
	if m, err := bare.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("bare subject also got %s, want only the default poll's", m.Data)
	}
}
