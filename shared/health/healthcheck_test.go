package health

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	tests := []struct{ addr, want, wantErr string }{
		{":8080", "http://127.0.0.1:8080/healthz", ""},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/healthz", ""},
		{"[::]:8082", "http://127.0.0.1:8082/healthz", ""},
		{"127.0.0.2:8080", "http://127.0.0.2:8080/healthz", ""},
		{"[::1]:8080", "http://[::1]:8080/healthz", ""},
		{"localhost:8080", "http://localhost:8080/healthz", ""},
		{"8080", "", "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := CheckURL(tt.addr, "/healthz")
			if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %q, %v; want %q, error %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable","failing":"redis"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	down := closedAddr(t)

	tests := []struct {
		name    string
		addr    string
		args    []string
		wantOut string // printed on success
		wantErr string // a part of the error; "" for success
	}{
		{"live", addr, nil, "GET http://" + addr + "/healthz answered 200 OK: ok\n", ""},
		{"not ready", addr, []string{"-ready"}, "", "GET http://" + addr + "/readyz answered 503 Service Unavailable: {\"status\":\"unavailable\",\"failing\":\"redis\"}"},
		{"nothing listening", down, nil, "", "connection refused"},
		{"bad flag", addr, []string{"-verbose"}, "", "flag provided but not defined: -verbose; usage: healthcheck"},
		{"extra argument", addr, []string{"now"}, "", `unknown arguments ["now"]`},
		{"zero timeout", addr, []string{"-timeout", "0s"}, "", "not positive"},
		{"bad address", "8080", nil, "", `listen address "8080"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Healthcheck(context.Background(), tt.args, tt.addr, &out)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			if out.String() != tt.wantOut {
				t.Errorf("printed %q, want %q", out.String(), tt.wantOut)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		// A server that takes the connection and never answers: the check
		// gives up after -timeout, not after the client's default.
		hang, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hang.Close() })
		start := time.Now()
		err = Healthcheck(context.Background(), []string{"-timeout", "200ms"}, hang.Addr().String(), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Errorf("got %v, want no answer within 200ms", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v, want about 200ms", d)
		}
	})
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
