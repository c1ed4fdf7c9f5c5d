package feed

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"livevote/result/internal/hub"
	"livevote/shared/tally"
)

// FuzzReceive sends two NATS messages, subjects and payloads fuzzed, to a
// result server whose hub read poll p (version 100) and the default poll
// (version 7) from a database of epoch e1. A poll's tally only ever
// changes to one that can be true, came on that poll's own subject, is of
// the database's epoch, and is newer than the last one yet no more than
// hub.MaxAhead beyond what the database said: no forged tally of version
// 2^63-1 freezes the pages.
func FuzzReceive(f *testing.F) {
	ok := `{"poll":"p","version":101,"counts":{"a":60,"b":41},"total":101,"state":"open","updated_at":"2026-11-26T19:30:00.123Z","epoch":"e1"}`
	f.Add("s.p", []byte(ok), "s.p", []byte(`{"poll":"p","version":102,"counts":{"a":60,"b":42},"total":102,"epoch":"e1"}`))
	f.Add("s.p", []byte(`{"poll":"p","version":9223372036854775807,"counts":{"a":1},"total":1,"epoch":"e1"}`), "s.p", []byte(ok))
	f.Add("s.p", []byte(`{"poll":"p","version":1048676,"counts":{"a":1},"total":1,"epoch":"e1"}`), "s.p", []byte(`{"poll":"p","version":1048677,"counts":{"a":1},"total":1,"epoch":"e1"}`))
	f.Add("s.p", []byte(`{"poll":"p","version":101,"counts":{"a":1},"total":1,"epoch":"e2"}`), "s.p", []byte(`{"poll":"p","version":99,"counts":{"a":1},"total":1,"epoch":"e1"}`))
	f.Add("s.p", []byte(`{"poll":"p","version":101,"counts":{"a":1},"total":1}`), "s.default", []byte(ok))
	f.Add("s", []byte(`{"version":8,"counts":{"a":1},"total":1,"epoch":"e1"}`), "s.default", []byte(`{"poll":"default","version":8,"counts":{"a":1},"total":1,"epoch":"e1"}`))
	f.Add("s.p", []byte(`{"poll":"p","version":101,"counts":{"a":10,"b":7},"total":1000,"epoch":"e1"}`), "s.p.x", []byte(ok))
	f.Add("s.>", []byte(ok), "s.*", []byte(ok))
	f.Add("s.q", []byte(`{"poll":"q","version":1,"counts":{},"total":0,"epoch":"e1"}`), "s.p", []byte(`{"poll":"p","version":101,"counts":{"a":-1,"b":2},"total":1,"epoch":"e1"}`))
	f.Fuzz(func(t *testing.T, subject1 string, data1 []byte, subject2 string, data2 []byte) {
		h := hub.New(hub.NewMetrics(prometheus.NewRegistry()), "default")
		h.Hold("p")
		stored := map[string]tally.Tally{"p": tl("p", 100, nil), "default": tl("default", 7, nil)}
		for id, st := range stored {
			st.Epoch = "e1"
			stored[id] = st
		}
		h.Stored(stored, true, time.Now())
		fd := New(discard(), &fakeStore{}, h, "s", prometheus.NewRegistry())

		for _, m := range []struct {
			subject string
			data    []byte
		}{{subject1, data1}, {subject2, data2}} {
			before := map[string][]byte{}
			for id := range stored {
				_, enc, _ := h.Current(id)
				before[id] = enc
			}
			fd.receive(&nats.Msg{Subject: m.subject, Data: m.data})
			for id, st := range stored {
				now, enc, held := h.Current(id)
				if !held {
					t.Fatalf("poll %s lost its tally after %q on %q", id, m.data, m.subject)
				}
				if bytes.Equal(enc, before[id]) {
					continue
				}
				var sent tally.Tally
				if err := json.Unmarshal(m.data, &sent); err != nil {
					t.Fatalf("poll %s took a tally from %q, which does not decode: %v", id, m.data, err)
				}
				sentEnc, _ := sent.MarshalJSON()
				var last tally.Tally
				_ = json.Unmarshal(before[id], &last)
				switch {
				case m.subject != tally.Subject("s", id) || sent.Poll != id:
					t.Fatalf("poll %s took the tally of %q on %q", id, sent.Poll, m.subject)
				case sent.Epoch != "e1":
					t.Fatalf("poll %s took a tally of epoch %q, the database's is e1", id, sent.Epoch)
				case sent.Version <= last.Version:
					t.Fatalf("poll %s went from version %d to %d", id, last.Version, sent.Version)
				case sent.Version-st.Version > hub.MaxAhead:
					t.Fatalf("poll %s took version %d, %d beyond the database's %d", id, sent.Version, sent.Version-st.Version, st.Version)
				case !bytes.Equal(enc, sentEnc) || now.Version != sent.Version:
					t.Fatalf("poll %s holds %s, not the tally taken %s", id, enc, sentEnc)
				}
			}
		}
	})
}
