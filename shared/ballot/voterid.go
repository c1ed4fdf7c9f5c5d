package ballot

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
)

// A voter id is a random part, a dot and a MAC of the random part under the
// installation's voter key: "<22 characters>.<16 characters>". Only a vote
// server, which holds the key, can make one that VoterSigner.Check accepts.
// Version 1's ids were the random part alone; the worker still takes them
// from the stream (entries of older vote servers), the vote servers no
// longer do.

// voterIDBytes of randomness make a voter id; 128 bits cannot be guessed.
const voterIDBytes = 16

// voterMACBytes of the HMAC-SHA256 are kept: 96 bits, so a forger's chance
// per try is 2^-96.
const voterMACBytes = 12

// VoterIDLen is the length of the random part of a voter id, and of a whole
// id of version 1 (NewVoterID).
var VoterIDLen = base64.RawURLEncoding.EncodedLen(voterIDBytes)

// SignedVoterIDLen is the length of a voter id issued by a VoterSigner.
var SignedVoterIDLen = VoterIDLen + 1 + base64.RawURLEncoding.EncodedLen(voterMACBytes)

// MinVoterKeyLen is the shortest key a VoterSigner takes: 32 bytes, the
// size of the MAC's hash.
const MinVoterKeyLen = 32

// ErrShortVoterKey reports a voter key under MinVoterKeyLen bytes.
var ErrShortVoterKey = errors.New("ballot: voter key shorter than 32 bytes")

// NewVoterID returns a fresh random id of version 1's shape (22 URL-safe
// characters), unsigned: what the worker still accepts in the stream, and
// the random part of a signed id.
func NewVoterID() string {
	var b [voterIDBytes]byte
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidVoterID reports whether s has the shape of a voter id: a signed one
// or one of version 1. It cannot tell whether a vote server issued it; the
// vote servers check that with VoterSigner.Check.
func ValidVoterID(s string) bool {
	switch len(s) {
	case VoterIDLen:
		return urlBase64(s)
	case SignedVoterIDLen:
		return s[VoterIDLen] == '.' && urlBase64(s[:VoterIDLen]) && urlBase64(s[VoterIDLen+1:])
	}
	return false
}

// urlBase64 reports whether s is made of the URL-safe base64 alphabet.
func urlBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// VoterSigner issues voter ids under one key and checks them. It is safe
// for concurrent use.
type VoterSigner struct {
	key  []byte
	macs sync.Pool // of keyed HMACs: hmac.New costs more than a MAC of 22 bytes
}

// NewVoterSigner returns the signer of key (ErrShortVoterKey under
// MinVoterKeyLen bytes). It keeps its own copy of key.
func NewVoterSigner(key []byte) (*VoterSigner, error) {
	if len(key) < MinVoterKeyLen {
		return nil, ErrShortVoterKey
	}
	s := &VoterSigner{key: append([]byte(nil), key...)}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s, nil
}

// Issue returns a fresh voter id signed with the key.
func (s *VoterSigner) Issue() string {
	random := NewVoterID()
	b := make([]byte, 0, SignedVoterIDLen)
	b = append(b, random...)
	b = append(b, '.')
	b = s.appendMAC(b, random)
	return string(b)
}

// Check reports whether id was issued with this key: a made-up, altered or
// unsigned id, or one signed with another key, is not.
func (s *VoterSigner) Check(id string) bool {
	if len(id) != SignedVoterIDLen || id[VoterIDLen] != '.' {
		return false
	}
	var buf [64]byte
	want := s.appendMAC(buf[:0], id[:VoterIDLen])
	return hmac.Equal(want, []byte(id[VoterIDLen+1:]))
}

// Same reports whether key is this signer's key.
func (s *VoterSigner) Same(key []byte) bool { return hmac.Equal(s.key, key) }

// appendMAC appends the base64 of the truncated MAC of random to b.
func (s *VoterSigner) appendMAC(b []byte, random string) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(voterIDDomain))
	m.Write([]byte(random))
	var sum [sha256.Size]byte
	mac := m.Sum(sum[:0])
	s.macs.Put(m)
	return base64.RawURLEncoding.AppendEncode(b, mac[:voterMACBytes])
}

// voterIDDomain is MACed before the random part, so that the key signs
// nothing else by accident even if it is ever used for something else.
const voterIDDomain = "livevote voter id\x00"
