package ballot

import (
	"errors"
	"strconv"
	"strings"
)

// MaxShards bounds VOTE_STREAM_SHARDS. Each shard is read by every
// worker, each read holding a Redis connection while it blocks, and a
// shard takes about 20,000 votes/s: 256 is beyond any sensible cluster.
const MaxShards = 256

// StreamForbidden are the characters a stream name may not hold.
const StreamForbidden = "{}*?[]\\"

// Shards is the vote stream split over N stream keys (VOTE_STREAM_SHARDS),
// with the vote servers' copy of each poll beside each of them. Every key
// of a shard carries the same Redis Cluster hash tag, so a script that
// checks a poll's copy and appends to the shard's stream touches one slot,
// and different shards land on different slots (and so, on a cluster, on
// different primaries).
//
// One shard is version 1's layout: the stream key is the prefix itself.
// With more, shard k's stream is "<prefix>:{k}".
//
// A voter's votes always go to the shard of its voter id (Of), so the
// stream ids that order a voter's votes in a poll come from one stream. A
// poll's commands (create, close, reopen) go to its home shard, the shard
// of its id, after its copy on every other shard was brought up to date;
// the home shard's copy holds its tally.
type Shards struct {
	prefix string
	n      int
}

// NewShards returns the n shards of the stream prefix. The prefix may not
// hold '{' or '}', which would change the keys' hash tags, nor a glob
// character of Redis's patterns ("*?[]\"), so a pattern built from it
// (a SCAN for its keys) matches its keys only.
func NewShards(prefix string, n int) (Shards, error) {
	if prefix == "" || strings.ContainsAny(prefix, StreamForbidden) {
		return Shards{}, errors.New("ballot: a stream name must be non-empty and hold none of " + StreamForbidden)
	}
	if n < 1 || n > MaxShards {
		return Shards{}, errors.New("ballot: shards must be from 1 to " + strconv.Itoa(MaxShards))
	}
	return Shards{prefix: prefix, n: n}, nil
}

// OneShard is NewShards(prefix, 1) for a prefix known to be valid; it
// panics otherwise (tests and constants only).
func OneShard(prefix string) Shards {
	s, err := NewShards(prefix, 1)
	if err != nil {
		panic(err)
	}
	return s
}

// N is the number of shards.
func (s Shards) N() int { return s.n }

// Prefix is VOTE_STREAM.
func (s Shards) Prefix() string { return s.prefix }

// Key is shard k's stream key.
func (s Shards) Key(k int) string {
	if s.n == 1 {
		return s.prefix
	}
	return s.prefix + ":{" + strconv.Itoa(k) + "}"
}

// Keys are every shard's stream key, in shard order.
func (s Shards) Keys() []string {
	keys := make([]string, s.n)
	for k := range keys {
		keys[k] = s.Key(k)
	}
	return keys
}

// PollKey is the Redis hash that holds shard k's copy of a poll (its
// fields are the Poll* constants). With one shard it is
// "<prefix>:{<prefix>}:poll:<id>", whose hash tag is the stream key
// itself; with more, "<prefix>:{k}:poll:<id>".
func (s Shards) PollKey(k int, pollID string) string {
	tag := strconv.Itoa(k)
	if s.n == 1 {
		tag = s.prefix
	}
	return s.prefix + ":{" + tag + "}:poll:" + pollID
}

// HomeKey is the copy of pollID on its home shard.
func (s Shards) HomeKey(pollID string) string { return s.PollKey(s.Of(pollID), pollID) }

// Of is the shard of a voter id or a poll id: FNV-1a of the id modulo N.
func (s Shards) Of(id string) int {
	if s.n == 1 {
		return 0
	}
	// FNV-1a, 32 bits (hash/fnv's, without its allocations).
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(s.n))
}

// LegacyPollKey is where versions before shards kept a poll's copy,
// "<stream>:poll:<id>": on a single Redis the worker moves such copies to
// PollKey when it starts.
func LegacyPollKey(stream, pollID string) string { return stream + ":poll:" + pollID }

// SeqLess reports whether stream id a ("ms-n") is before b. An id that is
// not one is before every id.
func SeqLess(a, b string) bool {
	ams, an, aok := parseSeq(a)
	bms, bn, bok := parseSeq(b)
	switch {
	case !bok:
		return false
	case !aok:
		return true
	}
	return ams < bms || (ams == bms && an < bn)
}

func parseSeq(id string) (ms, n uint64, ok bool) {
	m, q, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	var err error
	if ms, err = strconv.ParseUint(m, 10, 64); err != nil {
		return 0, 0, false
	}
	if n, err = strconv.ParseUint(q, 10, 64); err != nil {
		return 0, 0, false
	}
	return ms, n, true
}
