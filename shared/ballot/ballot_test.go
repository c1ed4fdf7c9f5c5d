package ballot

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

func TestLegacyPollKey(t *testing.T) {
	if got, want := LegacyPollKey("votes", "q7k2m9xa"), "votes:poll:q7k2m9xa"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// slot is Redis Cluster's key slot: CRC16 (XMODEM) of the key's hash tag,
// or of the whole key when it has none, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, b := range []byte(key) {
		crc ^= uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestSlotMatchesRedis(t *testing.T) {
	// Values from CLUSTER KEYSLOT on Redis 7.
	for key, want := range map[string]int{"votes": 9180, "foo": 12182, "{user1000}.following": 3443, "123456789": 12739} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestShardKeys(t *testing.T) {
	one := OneShard("votes")
	if got := one.Key(0); got != "votes" {
		t.Errorf("one shard: stream %q, want version 1's key votes", got)
	}
	if got, want := one.PollKey(0, "p1"), "votes:{votes}:poll:p1"; got != want {
		t.Errorf("one shard: poll key %q, want %q", got, want)
	}
	if slot(one.PollKey(0, "p1")) != slot(one.Key(0)) {
		t.Error("one shard: the poll copy is not in the stream's slot")
	}
	if one.Of("anything") != 0 || one.HomeKey("p1") != one.PollKey(0, "p1") {
		t.Error("one shard: everything belongs to shard 0")
	}

	four, err := NewShards("votes", 4)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[int]int{}
	for k, key := range four.Keys() {
		if want := fmt.Sprintf("votes:{%d}", k); key != want {
			t.Errorf("shard %d: stream %q, want %q", k, key, want)
		}
		if !strings.HasPrefix(four.PollKey(k, "p1"), "votes:") {
			t.Errorf("shard %d: poll key %q does not start with the prefix", k, four.PollKey(k, "p1"))
		}
		if slot(four.PollKey(k, "p1")) != slot(key) {
			t.Errorf("shard %d: the poll copy %q is not in the stream's slot", k, four.PollKey(k, "p1"))
		}
		if prev, ok := slots[slot(key)]; ok {
			t.Errorf("shards %d and %d share slot %d", prev, k, slot(key))
		}
		slots[slot(key)] = k
	}
	if got := four.HomeKey("p1"); got != four.PollKey(four.Of("p1"), "p1") {
		t.Errorf("home key %q is not the copy on the poll's shard", got)
	}
}

func TestShardOfSpreadsAndSticks(t *testing.T) {
	s, err := NewShards("votes", 4)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]int, 4)
	for i := range 20000 {
		id := fmt.Sprintf("voter-%d", i)
		k := s.Of(id)
		if k != s.Of(id) {
			t.Fatalf("%s moved shards", id)
		}
		count[k]++
	}
	for k, n := range count {
		if n < 4500 || n > 5500 {
			t.Errorf("shard %d got %d of 20,000 ids, want about 5,000: %v", k, n, count)
		}
	}
}

func TestShardOfIsFNV1a(t *testing.T) {
	s, err := NewShards("votes", 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "a", "voter-1", "q7k2m9xa", "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBB"} {
		h := fnv.New32a()
		h.Write([]byte(id))
		if got, want := s.Of(id), int(h.Sum32()%7); got != want {
			t.Errorf("Of(%q) = %d, want FNV-1a's %d", id, got, want)
		}
	}
}

func TestNewShardsRefuses(t *testing.T) {
	for _, c := range []struct {
		prefix string
		n      int
	}{{"", 1}, {"vo{tes", 1}, {"votes}", 2}, {"votes", 0}, {"votes", -1}, {"votes", MaxShards + 1}} {
		if _, err := NewShards(c.prefix, c.n); err == nil {
			t.Errorf("NewShards(%q, %d) accepted", c.prefix, c.n)
		}
	}
}
