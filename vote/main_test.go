package main

import (
	"testing"

	"livevote/shared/servicetest"
)

// TestRunStartsWithDependencyDown: redis is unreachable, which is not a bad
// setting, so the server starts and reports not-ready naming it.
func TestRunStartsWithDependencyDown(t *testing.T) {
	servicetest.Boot(t, run, "VOTE_ADDR", map[string]string{"REDIS_URL": "redis://" + servicetest.FreeAddr(t) + "/0"}, "redis")
}

func TestRunRefusesBadSettings(t *testing.T) {
	servicetest.RefuseBadSettings(t, run, "REDIS_URL", "VOTE_ADDR")
}
