// Package shared is the cross-service contract of the voting system: poll
// definitions, the ballot and tally wire types, the queries that read the
// tallies, configuration helpers, health reporting, logging, languages and
// the one retry helper. It has no database, queue or broker driver
// dependencies so every service can import it.
package shared
