// Package schema holds the PostgreSQL schema of the voting system, the one
// place its SQL is written. The worker and the result server both apply it
// at start, so whichever starts first creates it.
package schema

import _ "embed"

// SQL creates and migrates the schema. It is idempotent and is meant to be
// sent as one simple-protocol query: PostgreSQL then runs its statements as
// one transaction, which its first statement serialises with an advisory
// lock so that processes starting at once do not race.
//
//go:embed schema.sql
var SQL string
