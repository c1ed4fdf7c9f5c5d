// Command loadgen is the load benchmark of the voting system (`make bench`).
// It starts the system on this machine (the binaries in bin/, against the
// local Redis, PostgreSQL and NATS, on a stream, subject and schema of its
// own) or drives one already running (-vote, -result, -worker), and prints,
// for each phase, a table for people and one JSON line for machines:
//
//   - latency: from a vote's acknowledgement to the first WebSocket message
//     that includes it, at steady rates (first, on a system at rest);
//   - ingest: votes acknowledged per second over keep-alive connections,
//     new voters and returning voters changing their minds;
//   - end to end: votes per second from the first request until the result
//     server's tally equals the generator's own count;
//   - many polls: polls created through the API (1,000 by default), the
//     ingest load spread over them, end to end until every poll's tally is
//     exact, beside the single-poll figure of the same run;
//   - fan-out: from a vote to the moment the last of N WebSocket clients has
//     the new tally, and the result server's memory meanwhile;
//   - the floor: the same fan-out as bare TCP writes between two processes,
//     what no WebSocket server can beat on this machine, its rounds taken
//     in turn with the fan-out's and printed beside it;
//   - viewers: many polls, each watched by many WebSocket clients, votes on
//     all of them; every viewer must end on its poll's exact tally;
//   - CPU seconds and peak memory of each process of ours.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	voteURL, resultURL, workerURL  string
	binDir                         string
	redisURL, databaseURL, natsURL string
	duration                       time.Duration
	conns                          int
	rates                          []int
	rateDuration                   time.Duration
	clients                        int
	rounds                         int
	polls                          int
	viewerPolls                    int
	viewers                        int
	viewerVotes                    int
	// fileRoom is how many sockets one process may hold, as the open-file
	// limit allows: the viewers phase spreads its viewers over as many
	// result servers and client processes as it needs.
	fileRoom     int
	viewerWorker bool
	phases       map[string]bool
	floorServer  int
	floorReaders int
	floorAddr    string
	// limits is "off" (the default) or "on": the rate limits checked on
	// every vote at a rate no load reaches, to measure what they cost.
	limits string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.voteURL, "vote", "", "vote server URL of a running system (empty: start one)")
	fs.StringVar(&o.resultURL, "result", "", "result server URL of a running system")
	fs.StringVar(&o.workerURL, "worker", "", "worker health URL of a running system (for its metrics)")
	fs.StringVar(&o.binDir, "bin", "bin", "where the vote, worker and result binaries are, when starting the system")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis for a started system")
	fs.StringVar(&o.databaseURL, "database-url", "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL for a started system (a schema of its own is made and dropped)")
	fs.StringVar(&o.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS for a started system")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the ingest phase sends votes")
	fs.StringVar(&o.limits, "limits", "off", `rate limits of a started system: "off", or "on" (checked on every vote and new voter, at 1000000/s so that none is refused: what they cost)`)
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections of the ingest phase")
	rates := fs.String("rates", "200,2000", "steady rates (votes/s) of the latency phase")
	fs.DurationVar(&o.rateDuration, "rate-duration", 5*time.Second, "how long each steady rate runs")
	fs.IntVar(&o.clients, "clients", 10000, "WebSocket clients of the fan-out phase")
	fs.IntVar(&o.rounds, "rounds", 20, "votes timed in the fan-out phase")
	fs.IntVar(&o.polls, "polls", 1000, "open polls of the many-polls phase")
	fs.IntVar(&o.viewerPolls, "viewer-polls", 1000, "polls of the viewers phase")
	fs.IntVar(&o.viewers, "viewers", 50, "WebSocket clients per poll in the viewers phase")
	fs.IntVar(&o.viewerVotes, "viewer-votes", 10, "votes sent to each poll in the viewers phase")
	phases := fs.String("phases", "latency,ingest,polls,fanout,floor,viewers", "which phases to run (always in this order)")
	fs.IntVar(&o.floorServer, "floor-server", 0, "internal: run the writing side of the floor phase")
	fs.IntVar(&o.floorReaders, "floor-readers", 0, "internal: run the reading side of the floor phase")
	fs.StringVar(&o.floorAddr, "floor-addr", "", "internal: the floor server's address, for -floor-readers")
	fs.BoolVar(&o.viewerWorker, "viewer-worker", false, "internal: run a share of the viewers phase's clients")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-rates: %q is not a positive number", r)
		}
		o.rates = append(o.rates, n)
	}
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "ingest", "latency", "polls", "fanout", "floor", "viewers":
			o.phases[p] = true
		default:
			return o, fmt.Errorf("-phases: unknown phase %q", p)
		}
	}
	if o.polls < 1 {
		return o, fmt.Errorf("-polls: want at least 1, got %d", o.polls)
	}
	if o.viewerPolls < 1 || o.viewers < 1 || o.viewerVotes < 1 {
		return o, fmt.Errorf("-viewer-polls, -viewers and -viewer-votes: want at least 1 each")
	}
	if (o.voteURL == "") != (o.resultURL == "") {
		return o, fmt.Errorf("-vote and -result go together")
	}
	if o.limits != "off" && o.limits != "on" {
		return o, fmt.Errorf(`-limits: want "off" or "on", got %q`, o.limits)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.floorServer > 0 {
		return floorServer(o.floorServer)
	}
	if o.floorReaders > 0 {
		return floorReaders(o.floorAddr, o.floorReaders)
	}
	if o.viewerWorker {
		return viewerWorker(os.Stdin, stdout)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := raiseFileLimit(&o, stderr); err != nil {
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	sys := &system{vote: o.voteURL, result: o.resultURL, worker: o.workerURL}
	if sys.vote == "" {
		progress("starting the system from %s/ (stream, subject and schema of its own)", o.binDir)
		if sys, err = startSystem(ctx, o, progress); err != nil {
			return err
		}
		defer sys.stop(progress)
	}
	stats := newProcStats(sys)
	stats.start(ctx)

	report := newReport(stdout)
	if o.phases["latency"] {
		for _, rate := range o.rates {
			res, err := latency(ctx, sys, rate, o.rateDuration, progress)
			if err != nil {
				return fmt.Errorf("latency at %d votes/s: %w", rate, err)
			}
			report.latency(res)
		}
	}
	var single float64
	if o.phases["ingest"] {
		res, err := ingest(ctx, sys, o, progress)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		report.ingest(res)
		single = res.EndToEndPerSec
	}
	if o.phases["polls"] {
		res, err := manyPolls(ctx, sys, o, progress)
		if err != nil {
			return fmt.Errorf("many polls: %w", err)
		}
		if single > 0 {
			res.SinglePollPerSec, res.Ratio = single, res.EndToEndPerSec/single
		}
		report.polls(res)
	}
	if o.phases["fanout"] || o.phases["floor"] {
		fan, fl, err := fanoutAndFloor(ctx, sys, o, progress, stats)
		if err != nil {
			return err
		}
		if fan != nil {
			report.fanout(*fan)
		}
		if fl != nil {
			report.floor(*fl)
		}
	}
	if o.phases["viewers"] {
		res, err := viewers(ctx, sys, o, progress)
		if err != nil {
			return fmt.Errorf("viewers: %w", err)
		}
		report.viewers(res)
	}
	report.processes(stats.stop())
	return nil
}

// raiseFileLimit gives this process, and the servers it starts (which
// inherit it), as many open files as the phases need: one socket per
// client in each of this process, the result server, the floor's server
// and the floor's readers; the viewers phase spreads its viewers over as
// many result servers and client processes as the limit makes it need.
// Raising the hard limit takes CAP_SYS_RESOURCE; without it the fan-out
// asks for no more clients than the hard limit allows (an error says how
// many fit). It sets o.fileRoom.
func raiseFileLimit(o *options, stderr io.Writer) error {
	const spare = 256 // the processes' own connections, files, listeners
	need := uint64(spare)
	if o.phases["fanout"] || o.phases["floor"] {
		need = max(need, spare+uint64(o.clients))
	}
	if o.phases["viewers"] {
		need = max(need, spare+uint64(o.viewerPolls*o.viewers))
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("reading the open-file limit: %w", err)
	}
	if l.Cur < need {
		want := syscall.Rlimit{Cur: max(need, l.Max), Max: max(need, l.Max)}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			if want.Max > l.Max {
				fmt.Fprintf(stderr, "open-file limit raised to %d (hard limit was %d)\n", want.Max, l.Max)
			}
			l = want
		} else {
			l.Cur = l.Max
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
				return fmt.Errorf("raising the open-file limit to %d: %w", l.Max, err)
			}
			if l.Max < need {
				fmt.Fprintf(stderr, "the phases need %d open files for one process and the hard limit is %d, which this process may not raise (%v; it takes CAP_SYS_RESOURCE)\n", need, l.Max, err)
			}
		}
	}
	o.fileRoom = int(max(l.Cur, spare) - spare)
	if (o.phases["fanout"] || o.phases["floor"]) && o.clients > o.fileRoom {
		return fmt.Errorf("-clients %d: with an open-file hard limit of %d at most %d clients fit on one result server; raise it (ulimit -Hn %d, as root with CAP_SYS_RESOURCE) or ask for fewer", o.clients, l.Max, o.fileRoom, need)
	}
	if o.phases["viewers"] && o.viewers > o.fileRoom {
		return fmt.Errorf("-viewers %d: with an open-file hard limit of %d at most %d viewers of one poll fit", o.viewers, l.Max, o.fileRoom)
	}
	return nil
}

// report prints each result as a table and as one JSON line.
type report struct {
	w io.Writer
}

func newReport(w io.Writer) *report { return &report{w: w} }

func (r *report) emit(kind string, rows [][2]string, v any) {
	fmt.Fprintf(r.w, "\n%s\n", kind)
	for _, row := range rows {
		fmt.Fprintf(r.w, "  %-34s %s\n", row[0], row[1])
	}
	b, _ := json.Marshal(map[string]any{"phase": kind, "result": v})
	fmt.Fprintf(r.w, "%s\n", b)
}
