package health

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Healthcheck is the `healthcheck` subcommand of every binary, for
// container engines whose images hold no curl: it asks the server of this
// container, listening on addr (the *_ADDR setting), for /healthz (or
// /readyz with -ready) and returns nil on 200, else an error saying what
// answered, so the binary exits 0 or 1. args are its own flags: -ready,
// -timeout (default 2s).
func Healthcheck(ctx context.Context, args []string, addr string, stdout io.Writer) error {
	flags := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	ready := flags.Bool("ready", false, "ask /readyz (every dependency answers) instead of /healthz (the process serves)")
	timeout := flags.Duration("timeout", 2*time.Second, "how long to wait for the answer")
	const usage = "usage: healthcheck [-ready] [-timeout 2s]"
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("healthcheck: %w; %s", err, usage)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("healthcheck: unknown arguments %q; %s", flags.Args(), usage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: -timeout %v is not positive; %s", *timeout, usage)
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	target, err := CheckURL(addr, path)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// No proxy, no kept connection: the check talks to its own container.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("healthcheck: GET %s: no answer within %v", target, *timeout)
		}
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s answered %s: %s", target, resp.Status, answer)
	}
	_, err = fmt.Fprintf(stdout, "GET %s answered %s: %s\n", target, resp.Status, answer)
	return err
}

// CheckURL is where a process reaches its own server listening on addr
// ([host]:port): that host when it names one, else (no host, 0.0.0.0, ::)
// the loopback address 127.0.0.1.
func CheckURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
