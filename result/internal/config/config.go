// Package config loads the result server's settings from the environment.
package config

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	shared "livevote/shared/config"
	"livevote/shared/tally"
)

// Config is the result server's settings.
type Config struct {
	Postgres *pgxpool.Config
	NATSURL  string
	Addr     string
	Subject  string
	// Labels maps each option id to what people see.
	Labels   map[string]string
	LogLevel string
}

// Load reads the result server's variables, applying defaults.
func Load(getenv shared.Getenv) (Config, error) {
	var c Config
	dbURL, err := shared.URL(getenv, "DATABASE_URL", shared.DefaultDatabaseURL, "postgres", "postgresql")
	if err != nil {
		return c, err
	}
	if c.Postgres, err = pgxpool.ParseConfig(dbURL.String()); err != nil {
		return c, fmt.Errorf("DATABASE_URL: %w", err)
	}
	natsURL, err := shared.URL(getenv, "NATS_URL", shared.DefaultNATSURL, "nats", "tls")
	if err != nil {
		return c, err
	}
	c.NATSURL = natsURL.String()
	if c.Addr, err = shared.Addr(getenv, "RESULT_ADDR", ":8081"); err != nil {
		return c, err
	}
	if c.Subject, err = shared.Name(getenv, "TALLY_SUBJECT", tally.DefaultSubject); err != nil {
		return c, err
	}
	if c.Labels, err = shared.Labels(getenv); err != nil {
		return c, err
	}
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
}
