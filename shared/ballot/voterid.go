package ballot

import (
	"crypto/rand"
	"encoding/base64"
)

// voterIDBytes of randomness make a voter id; 128 bits cannot be guessed.
const voterIDBytes = 16

// VoterIDLen is the length of every voter id made by NewVoterID.
var VoterIDLen = base64.RawURLEncoding.EncodedLen(voterIDBytes)

// NewVoterID returns a fresh random voter id (22 URL-safe characters).
func NewVoterID() string {
	var b [voterIDBytes]byte
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidVoterID reports whether s has the shape of an id from NewVoterID.
func ValidVoterID(s string) bool {
	if len(s) != VoterIDLen {
		return false
	}
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
