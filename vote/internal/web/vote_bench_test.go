package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"livevote/shared/health"
	"livevote/shared/poll"
	"livevote/vote/internal/config"
)

// BenchmarkAPIPollVote is BenchmarkAPIVote's vote sent to a poll's route
// (issue 7's many-polls path), so that the two can be compared.
func BenchmarkAPIPollVote(b *testing.B) {
	cfg, _ := config.Load(func(string) string { return "" })
	logger := slog.New(slog.DiscardHandler)
	q := &discardQueue{}
	p, err := poll.New(poll.NewID(), "Which one?", []string{"Yes", "No"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Create(context.Background(), poll.Record{Poll: p}); err != nil {
		b.Fatal(err)
	}
	app, err := NewServer(logger, cfg, q, testVoters(b), &fakeLimits{}, health.NewMonitor(logger, time.Second), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	id := testSigner(b).Issue()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/api/polls/"+p.ID+"/votes", strings.NewReader(`{"vote":"a"}`))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: "voter_id", Value: id})
		resp, err := app.Test(req, -1)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("got %v %v", resp, err)
		}
	}
}
