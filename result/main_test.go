package main

import (
	"testing"

	"livevote/shared/servicetest"
)

// TestRunStartsWithDependencyDown: postgres is unreachable, which is not a bad
// setting, so the server starts and reports not-ready naming it.
func TestRunStartsWithDependencyDown(t *testing.T) {
	servicetest.Boot(t, run, "RESULT_ADDR", map[string]string{"DATABASE_URL": "postgres://postgres@" + servicetest.FreeAddr(t) + "/postgres?sslmode=disable"}, "postgres")
}

func TestRunRefusesBadSettings(t *testing.T) {
	servicetest.RefuseBadSettings(t, run, "DATABASE_URL", "RESULT_ADDR")
}
