package tally

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runClientJS runs client.js under Node with a stand-in window and
// WebSocket, then script, and returns what script prints.
func runClientJS(t *testing.T, script string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the browser tests cover client.js")
	}
	prelude := `var window = {}; var sockets = [];
function WebSocket(url) { this.url = url; sockets.push(this); }
var setTimeout = function () {};
`
	cmd := exec.Command(node, "-e", prelude+string(ClientJS)+"\nvar LiveTally = window.LiveTally;\n"+script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestClientPercentagesMatchGo: the page's percentages are the server's,
// for 2 to 12 options and awkward counts.
func TestClientPercentagesMatchGo(t *testing.T) {
	var tallies []Tally
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	for n := 2; n <= 12; n++ {
		for seed := int64(0); seed < 20; seed++ {
			counts := make(map[string]int64)
			for i := 0; i < n; i++ {
				counts[ids[i]] = (seed*7 + int64(i*i)*13 + seed*int64(i)) % (5 + seed)
			}
			tallies = append(tallies, New("p", 1, ids[:n], counts, "", time.Time{}))
		}
	}
	tallies = append(tallies,
		New("p", 1, ids[:3], map[string]int64{"a": 1, "b": 1, "c": 1}, "", time.Time{}),
		New("p", 1, ids[:2], nil, "", time.Time{}),
		New("p", 1, ids[:2], map[string]int64{"a": 1, "b": 999}, "", time.Time{}))
	enc, err := json.Marshal(tallies)
	if err != nil {
		t.Fatal(err)
	}
	out := runClientJS(t, fmt.Sprintf(`console.log(JSON.stringify(%s.map(function (t) { return LiveTally.percentages(t); })));`, enc))
	var got []map[string]int
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	for i, tl := range tallies {
		want := make(map[string]int)
		for j, p := range tl.Percentages(tl.Options()) {
			want[tl.Options()[j]] = p
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("counts %v: client got %v, want %v", tl.Counts, got[i], want)
		}
	}
}

func TestClientSummaryUsesPageWords(t *testing.T) {
	out := runClientJS(t, `
var es = { getAttribute: function (n) { return { "data-words-none": "Aún no hay votos", "data-words-one": "1 voto", "data-words-many": "%d votos" }[n] || null; } };
console.log([LiveTally.summary(0, es), LiveTally.summary(1, es), LiveTally.summary(7, es), LiveTally.summary(0), LiveTally.summary(1), LiveTally.summary(12)].join("|"));`)
	if want := "Aún no hay votos|1 voto|7 votos|No votes yet|1 vote|12 votes"; out != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

// TestClientConnectKeepsHighestOfItsPoll: messages of other polls and
// older versions are ignored.
func TestClientConnectKeepsHighestOfItsPoll(t *testing.T) {
	out := runClientJS(t, `
var seen = [];
LiveTally.connect("ws://h/ws?poll=talks", function (t) { seen.push(t.poll + "@" + t.version); });
var ws = sockets[0];
function send(o) { ws.onmessage({ data: JSON.stringify(o) }); }
send({ poll: "talks", version: 3, counts: { a: 1 }, total: 1 });
send({ poll: "other", version: 9, counts: { a: 1 }, total: 1 });
send({ poll: "talks", version: 2, counts: { a: 1 }, total: 1 });
send({ poll: "talks", version: 5, counts: { a: 1 }, total: 1 });
ws.onmessage({ data: "not json" });
var seenDefault = [];
LiveTally.connect("ws://h/ws", function (t) { seenDefault.push((t.poll || "v1") + "@" + t.version); });
sockets[1].onmessage({ data: JSON.stringify({ version: 4, counts: { a: 1 }, total: 1 }) });
sockets[1].onmessage({ data: JSON.stringify({ poll: "talks", version: 8, counts: { a: 1 }, total: 1 }) });
console.log(seen.join(",") + " " + seenDefault.join(","));`)
	if want := "talks@3,talks@5 v1@4"; out != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

// TestClientConnectFollowsTheEpoch: within one epoch only the highest
// version is taken; a tally of another epoch is taken whatever its
// version (the database was restored), and from then on that epoch's
// versions count.
func TestClientConnectFollowsTheEpoch(t *testing.T) {
	out := runClientJS(t, `
var seen = [];
LiveTally.connect("ws://h/ws?poll=p", function (t) { seen.push((t.epoch || "-") + "@" + t.version); });
var ws = sockets[0];
function send(o) { o.poll = "p"; o.counts = { a: 1 }; o.total = 1; ws.onmessage({ data: JSON.stringify(o) }); }
send({ version: 7 });                    // a result server older than epochs
send({ version: 9, epoch: "e1" });       // its upgrade: another epoch
send({ version: 8, epoch: "e1" });       // lower, same epoch: ignored
send({ version: 9, epoch: "e1" });       // equal: taken (a reconnection)
send({ version: 3, epoch: "e2" });       // restored: lower, taken
send({ version: 8, epoch: "e1" });       // back to e1: another epoch, taken
send({ version: 4, epoch: "e1" });       // lower within e1: ignored
send({ version: 5, epoch: 12 });         // not an epoch: ignored
send({ version: 9 });                    // no epoch is another epoch
console.log(seen.join(","));`)
	if want := "-@7,e1@9,e1@9,e2@3,e1@8,-@9"; out != want {
		t.Errorf("got %s, want %s", out, want)
	}
}
