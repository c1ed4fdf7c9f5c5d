package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// perSource is how many sockets the generator opens from one loopback
// source address: a source address and the server's address and port
// leave about 28,000 ephemeral ports (32768–60999), and every socket
// bound to a source address takes one of them.
const perSource = 20000

// sourceDialer returns the dialer of the i-th socket of a phase: sockets
// 0 to perSource-1 come from 127.0.0.1, the next from 127.0.0.2, and so
// on, so that 50,000 clients can reach one server on this machine.
func sourceDialer(i int) *net.Dialer {
	ip := net.IPv4(127, 0, 0, byte(1+i/perSource))
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 30 * time.Second, Control: bindNoPort}
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// bindNoPort has the kernel choose a socket's source port when it
// connects rather than when it is bound to its source address: a port
// chosen at bind time may serve no other socket of that address, so
// every earlier socket, to any server, and those in TIME_WAIT would count
// against the 28,000 ports; chosen at connect, a port only has to be
// free towards the one server.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// sources is how many loopback source addresses n sockets use.
func sources(n int) int { return (n + perSource - 1) / perSource }

// wsClient is the generator's WebSocket client: the handshake and the
// frames by hand, one small buffer, no goroutine but its reader's. The
// fan-out's clients cost the machine about what the floor's plain TCP
// readers do, so the ratio between the two is about the servers.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// wsKey is the handshake's Sec-WebSocket-Key; the server only echoes a
// digest of it.
const wsKey = "bGl2ZXZvdGUgbG9hZGdlbg=="

// dialWS opens a WebSocket to rawURL (ws://host:port/path?query) with d.
func dialWS(ctx context.Context, d *net.Dialer, rawURL string) (*wsClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsClient{conn: conn, br: br}, nil
}

// Close closes the connection, which ends a read under way.
func (c *wsClient) Close() error { return c.conn.Close() }

var errClosed = errors.New("websocket closed by the server")

// next returns the next text message, as much of it as fits in buf,
// answering pings on the way (the server drops a client that does not).
// It allocates nothing: 10,000 clients reading at once would otherwise
// make the generator's garbage collector a part of what it measures.
func (c *wsClient) next(buf []byte) ([]byte, error) {
	for {
		h, err := c.br.Peek(2)
		if err != nil {
			return nil, err
		}
		op, n := h[0]&0x0f, uint64(h[1]&0x7f)
		if h[1]&0x80 != 0 {
			return nil, errors.New("a masked frame from the server")
		}
		_, _ = c.br.Discard(2)
		switch n {
		case 126:
			b, err := c.br.Peek(2)
			if err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b))
			_, _ = c.br.Discard(2)
		case 127:
			b, err := c.br.Peek(8)
			if err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b)
			_, _ = c.br.Discard(8)
		}
		m := min(n, uint64(len(buf)))
		if _, err := io.ReadFull(c.br, buf[:m]); err != nil {
			return nil, err
		}
		if _, err := c.br.Discard(int(n - m)); err != nil {
			return nil, err
		}
		switch op {
		case 0x1: // text
			return buf[:m], nil
		case 0x8: // close
			return nil, errClosed
		case 0x9: // ping: a pong with its payload, masked as a client's (key 0)
			pong := append([]byte{0x8A, 0x80 | byte(m), 0, 0, 0, 0}, buf[:m]...)
			if _, err := c.conn.Write(pong); err != nil {
				return nil, err
			}
		}
	}
}
