// Package config loads the result server's settings from the environment.
package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"livevote/shared/clientaddr"
	shared "livevote/shared/config"
	"livevote/shared/fiberops"
	"livevote/shared/poll"
	"livevote/shared/tally"
)

// Config is the result server's settings.
type Config struct {
	Postgres *pgxpool.Config
	// NATSURL is one server's URL or several, comma-separated.
	NATSURL string
	Addr    string
	Subject string
	// DefaultPoll is the poll "default", labelled by OPTION_A and OPTION_B.
	DefaultPoll poll.Poll
	// VoteURL is where browsers reach the vote server (links, QR codes);
	// nil: the host the page was opened at, port VotePort.
	VoteURL *url.URL
	// WSOrigins are the browser origins whose pages may open the
	// WebSocket; nil: any page served from the host the browser connected
	// to, on any port (the vote page on :8080 reaching :8081).
	WSOrigins []fiberops.Origin
	// PresentFrameAncestors are the origins whose pages may frame the
	// presenter view (slides); nil: none may.
	PresentFrameAncestors []string
	// WSMaxClients caps the WebSocket clients in all, and
	// WSMaxClientsPerAddress those of one client address, so that one
	// host cannot take every socket the server can hold.
	WSMaxClients           int
	WSMaxClientsPerAddress int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (caps per address) and whose X-Forwarded-Proto and
	// X-Forwarded-Host name the scheme and host the browser used.
	TrustedProxies clientaddr.Trusted
	// PathPrefix is the path under which the pages, API and WebSocket are
	// served ("" or "/results", never a trailing slash), for a reverse
	// proxy that sends one origin's /results/… here unchanged. Health and
	// metrics stay at the root.
	PathPrefix string
	LogLevel   string
}

// Default caps on WebSocket clients. Per address the cap is generous: a
// room of people behind one NAT opens one socket each, plus tabs.
const (
	DefaultWSMaxClients           = 50000
	DefaultWSMaxClientsPerAddress = 2000
)

// VotePort is the vote server's port when VOTE_URL is unset.
const VotePort = "8080"

// Load reads the result server's variables, applying defaults.
func Load(getenv shared.Getenv) (Config, error) {
	var c Config
	dbURL, err := shared.URL(getenv, "DATABASE_URL", shared.DefaultDatabaseURL, "postgres", "postgresql")
	if err != nil {
		return c, err
	}
	if c.Postgres, err = pgxpool.ParseConfig(dbURL.String()); err != nil {
		// pgx's message may quote the URL: name the variable and the
		// redacted URL only.
		return c, fmt.Errorf("%w: DATABASE_URL=%q: not a PostgreSQL connection string", shared.ErrInvalid, shared.Redacted(dbURL))
	}
	if c.NATSURL, err = shared.URLList(getenv, "NATS_URL", shared.DefaultNATSURL, "nats", "tls"); err != nil {
		return c, err
	}
	if c.Addr, err = shared.Addr(getenv, "RESULT_ADDR", ":8081"); err != nil {
		return c, err
	}
	if c.Subject, err = shared.Name(getenv, "TALLY_SUBJECT", tally.DefaultSubject); err != nil {
		return c, err
	}
	labels, err := shared.Labels(getenv)
	if err != nil {
		return c, err
	}
	c.DefaultPoll = poll.Default(labels["a"], labels["b"])
	if c.VoteURL, err = shared.OptionalURL(getenv, "VOTE_URL", "http", "https"); err != nil {
		return c, err
	}
	if c.VoteURL != nil {
		c.VoteURL.RawQuery, c.VoteURL.Fragment = "", ""
	}
	if c.WSOrigins, err = origins(getenv, "WS_ORIGINS"); err != nil {
		return c, err
	}
	frame, err := origins(getenv, "PRESENT_FRAME_ANCESTORS")
	if err != nil {
		return c, err
	}
	for _, o := range frame {
		c.PresentFrameAncestors = append(c.PresentFrameAncestors, o.String())
	}
	if c.WSMaxClients, err = shared.Int(getenv, "WS_MAX_CLIENTS", DefaultWSMaxClients, 1, 1_000_000); err != nil {
		return c, err
	}
	if c.WSMaxClientsPerAddress, err = shared.Int(getenv, "WS_MAX_CLIENTS_PER_ADDRESS", DefaultWSMaxClientsPerAddress, 1, 1_000_000); err != nil {
		return c, err
	}
	proxies := shared.String(getenv, "TRUSTED_PROXIES", "")
	if c.TrustedProxies, err = clientaddr.ParseTrusted(proxies); err != nil {
		return c, fmt.Errorf("%w: TRUSTED_PROXIES=%q: %w", shared.ErrInvalid, shared.RedactString(proxies), err)
	}
	if c.PathPrefix, err = pathPrefix(getenv, "RESULT_PATH_PREFIX"); err != nil {
		return c, err
	}
	c.LogLevel = shared.String(getenv, "LOG_LEVEL", "info")
	return c, nil
}

// pathPrefix reads a URL path prefix: "" when unset, blank or "/", else a
// path of letters, digits and - . _ ~ segments that starts with "/" and
// loses any trailing "/".
func pathPrefix(getenv shared.Getenv, key string) (string, error) {
	raw := strings.TrimRight(shared.String(getenv, key, ""), "/")
	if raw == "" {
		return "", nil
	}
	ok := raw[0] == '/' && len(raw) <= 100
	for _, seg := range strings.Split(raw[1:], "/") {
		ok = ok && seg != "" && seg != "." && seg != ".."
		for _, r := range seg {
			ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: %s=%.100q: want a path such as /results (letters, digits, - . _ ~ between slashes)", shared.ErrInvalid, key, raw)
	}
	return raw, nil
}

// origins reads a comma-separated list of origins (scheme://host[:port]);
// nil when the variable is unset or blank.
func origins(getenv shared.Getenv, key string) ([]fiberops.Origin, error) {
	raw := shared.String(getenv, key, "")
	if raw == "" {
		return nil, nil
	}
	var list []fiberops.Origin
	for _, part := range strings.Split(raw, ",") {
		o, err := fiberops.ParseOrigin(part)
		if err != nil {
			// An origin has no user, but do not echo a password.
			shown := shared.RedactString(strings.TrimSpace(part))
			return nil, fmt.Errorf("%w: %s: %q is not an origin: want a comma-separated list of scheme://host[:port]", shared.ErrInvalid, key, shown)
		}
		list = append(list, o)
	}
	return list, nil
}
