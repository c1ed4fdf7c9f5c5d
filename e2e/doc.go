// Package e2e holds the end-to-end tests of the voting system: they build
// the real vote, worker and result binaries, run them against real Redis,
// PostgreSQL and NATS, and drive them as users and operators would (HTTP,
// WebSocket, NATS, a real browser, kill -9).
package e2e
