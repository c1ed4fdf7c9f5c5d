package clientaddr

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{" , ", 0},
		{"10.0.0.0/8", 1},
		{"10.0.0.0/8, 192.0.2.7 ,fd00::/8,::1", 4},
		{"10.1.2.3/8", 1}, // host bits are masked off
		{"::ffff:10.0.0.0/104", 1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTrusted(tt.in)
			if err != nil || got.Len() != tt.want {
				t.Errorf("got %d entries, %v; want %d, nil", got.Len(), err, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "example.org", "10.0.0", "10.0.0.1/", "fe80::1%eth0", "1.2.3.4;5.6.7.8", "*"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := ParseTrusted(bad); !errors.Is(err, ErrSyntax) {
				t.Errorf("got %v, want ErrSyntax", err)
			}
		})
	}
}

func TestClient(t *testing.T) {
	trusted, err := ParseTrusted("10.0.0.0/8, 192.0.2.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct, no header", "198.51.100.1", nil, "198.51.100.1"},
		{"direct: a header from an untrusted peer is ignored", "198.51.100.1", []string{"203.0.113.9"}, "198.51.100.1"},
		{"mapped IPv4 peer", "::ffff:198.51.100.1", nil, "198.51.100.1"},
		{"one trusted proxy", "10.1.1.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy without a header", "10.1.1.1", nil, "10.1.1.1"},
		{"two trusted hops", "10.1.1.1", []string{"203.0.113.9, 192.0.2.7"}, "203.0.113.9"},
		{"a forged left part is skipped", "10.1.1.1", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"several headers, read from the last", "10.1.1.1", []string{"1.1.1.1", "203.0.113.9,10.2.2.2"}, "203.0.113.9"},
		{"every hop trusted: the leftmost", "10.1.1.1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"malformed hop: the trusted hop right of it", "10.1.1.1", []string{"garbage, 10.2.2.2"}, "10.2.2.2"},
		{"malformed last hop: the proxy", "10.1.1.1", []string{"203.0.113.9, nonsense"}, "10.1.1.1"},
		{"IPv6 client behind an IPv6 proxy", "fd00::1", []string{"2001:db8:1:2::7"}, "2001:db8:1:2::7"},
		{"mapped IPv4 in the header", "10.1.1.1", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"empty items", "10.1.1.1", []string{" , 203.0.113.9 , "}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trusted.Client(netip.MustParseAddr(tt.remote), tt.xff)
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	var none Trusted
	if got := none.Client(netip.MustParseAddr("10.1.1.1"), []string{"203.0.113.9"}); got.String() != "10.1.1.1" {
		t.Errorf("no trusted proxies: got %s, want the peer 10.1.1.1", got)
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2::7", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::7", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Key(netip.MustParseAddr(tt.in)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
