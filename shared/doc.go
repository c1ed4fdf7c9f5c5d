// Package shared is the cross-service contract of the voting system: the
// ballot and tally wire types, the database schema, configuration helpers,
// health reporting and logging. It has no database, queue or broker driver
// dependencies so every service can import it.
package shared
