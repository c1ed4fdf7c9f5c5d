// Package servicetest checks what every service's run function promises:
// it boots with a dependency down, answers /healthz, names the missing
// dependency on /readyz, serves /metrics, stops when its context ends, and
// refuses bad settings with one line naming the variable.
package servicetest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunFunc is a service's run: main calls it with os.Args, os.Getenv and
// os.Stdout.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// FreeAddr returns a loopback address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Boot runs run with env (addrVar set to a free address) until its context
// ends, checking /healthz, that /readyz is 503 naming down, /metrics, the
// JSON log lines and a clean return.
func Boot(t *testing.T, run RunFunc, addrVar string, env map[string]string, down string) {
	t.Helper()
	addr := FreeAddr(t)
	env[addrVar] = addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &LockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, out) }()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("/healthz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 10s; output:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"failing":"`+down+`"`) {
		t.Errorf("/readyz: got %d %s, want 503 naming %s", code, body, down)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: got %d, want 200 in Prometheus text format", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after its context ended, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of its context ending")
	}
	if !strings.Contains(out.String(), `"level":"INFO"`) {
		t.Errorf("no structured log lines:\n%s", out.String())
	}
}

// RefuseBadSettings checks that run fails at once, with one line naming
// the variable, for a URL that does not parse in urlVar, a port in use and
// a malformed address in addrVar.
func RefuseBadSettings(t *testing.T, run RunFunc, urlVar, addrVar string) {
	t.Helper()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name, key, value string
	}{
		{"unparseable URL", urlVar, "::nope"},
		{"port in use", addrVar, taken.Addr().String()},
		{"not an address", addrVar, "eighty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), nil, func(k string) string {
				if k == tt.key {
					return tt.value
				}
				return ""
			}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.key) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line naming %s", err, tt.key)
			}
		})
	}
}

// LockedBuffer is a bytes.Buffer that a process's output and a test can
// use at once.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
