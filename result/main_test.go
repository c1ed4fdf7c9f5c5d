package main

import (
	"context"
	"io"
	"strings"
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

// TestRunRefusesBadOrigins: the origin lists stop the start with one line
// naming the variable.
func TestRunRefusesBadOrigins(t *testing.T) {
	for _, key := range []string{"WS_ORIGINS", "PRESENT_FRAME_ANCESTORS"} {
		t.Run(key, func(t *testing.T) {
			err := run(context.Background(), nil, func(k string) string {
				if k == key {
					return "https://vote.example.org, vote.example.org:8080"
				}
				return ""
			}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line naming %s", err, key)
			}
		})
	}
}
