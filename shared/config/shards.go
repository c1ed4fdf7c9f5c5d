package config

import (
	"fmt"
	"time"

	"livevote/shared/ballot"
)

// Shards reads VOTE_STREAM_SHARDS (default 1): how many stream keys, with
// stream (VOTE_STREAM) as their prefix, the votes are spread over.
func Shards(getenv Getenv, stream string) (ballot.Shards, error) {
	n, err := Int(getenv, "VOTE_STREAM_SHARDS", 1, 1, ballot.MaxShards)
	if err != nil {
		return ballot.Shards{}, err
	}
	s, err := ballot.NewShards(stream, n)
	if err != nil {
		return s, fmt.Errorf("%w: VOTE_STREAM=%q: must not contain any of %s (braces change the keys' Redis Cluster hash tags, the others are Redis pattern characters)", ErrInvalid, stream, ballot.StreamForbidden)
	}
	return s, nil
}

// ClusterReload is how often the vote servers and workers read a Redis
// Cluster's slot map again, beside every error that suggests it changed:
// go-redis's default of a minute would leave a failover that no command
// of theirs ran into (a manual one, say) unnoticed that long.
const ClusterReload = 5 * time.Second
