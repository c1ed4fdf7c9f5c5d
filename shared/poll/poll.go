// Package poll defines what a poll is: its id, question, options and state,
// the rules a definition must follow, the poll JSON of the API, and the
// manage token that closes and reopens it. The poll "default" is the
// original Cats-vs-Dogs poll, its labels set by OPTION_A and OPTION_B.
package poll

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultID is the poll of version 1's routes (/, /api/vote, /api/tally, /ws).
const DefaultID = "default"

// A poll's states.
const (
	StateOpen   = "open"
	StateClosed = "closed"
)

// The limits of a poll definition.
const (
	MinOptions  = 2
	MaxOptions  = 12
	MaxQuestion = 200 // characters, after trimming
	MaxLabel    = 80  // characters, after trimming
	MaxIDLen    = 40
)

// ErrInvalid is wrapped by every error about a poll definition; its text
// says what is wrong in words fit for the person who typed it.
var ErrInvalid = errors.New("poll: invalid definition")

// Option is one choice of a poll.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Poll is a poll as the API shows it.
type Poll struct {
	ID        string    `json:"id"`
	Question  string    `json:"question"`
	Options   []Option  `json:"options"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
}

// Record is a poll with what only the system keeps: the hash of its manage
// token. It travels in the create entry of the vote stream and sits in the
// vote servers' Redis copy and in PostgreSQL.
type Record struct {
	Poll
	// TokenHash is HashToken of the manage token; empty for a poll nobody
	// manages (default).
	TokenHash string `json:"token_hash,omitempty"`
}

// OptionID is the id of the option at index i (0-based): a, b, c, …
func OptionID(i int) string {
	return string(rune('a' + i))
}

// ValidOptionID reports whether s can be an option id of some poll (a to l).
func ValidOptionID(s string) bool {
	return len(s) == 1 && s[0] >= 'a' && s[0] < 'a'+MaxOptions
}

// ValidID reports whether s is a poll id: ^[a-z0-9][a-z0-9-]{0,39}$.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// idAlphabet leaves out letters people confuse when they type a link
// (i, l, o and the digits 0 and 1).
const idAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// idLen characters of 31 symbols: about 40 bits, short enough to type.
const idLen = 8

// NewID returns a fresh random poll id such as "q7k2m9xa".
func NewID() string {
	var b [idLen]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// New checks a definition typed by a person and returns the open poll it
// makes: question and labels trimmed, option ids a, b, c, … in order.
func New(id, question string, labels []string, createdAt time.Time) (Poll, error) {
	p := Poll{ID: id, Question: strings.TrimSpace(question), State: StateOpen,
		CreatedAt: createdAt.UTC().Truncate(time.Millisecond)}
	if !ValidID(id) {
		return Poll{}, fmt.Errorf("%w: id %.48q is not a poll id", ErrInvalid, id)
	}
	// PostgreSQL's text holds no NUL and JSON no bytes that are not UTF-8:
	// the worker would drop such a poll, or store other words than these.
	// Each text alone: pieces of a character in two of them are valid
	// together.
	for _, text := range append([]string{question}, labels...) {
		if strings.ContainsRune(text, 0) || !utf8.ValidString(text) {
			return Poll{}, fmt.Errorf("%w: a NUL character or bytes that are not UTF-8 text", ErrInvalid)
		}
	}
	switch n := utf8.RuneCountInString(p.Question); {
	case n == 0:
		return Poll{}, fmt.Errorf("%w: the question is empty", ErrInvalid)
	case n > MaxQuestion:
		return Poll{}, fmt.Errorf("%w: the question has %d characters; at most %d", ErrInvalid, n, MaxQuestion)
	}
	if len(labels) < MinOptions || len(labels) > MaxOptions {
		return Poll{}, fmt.Errorf("%w: %d options; a poll has %d to %d", ErrInvalid, len(labels), MinOptions, MaxOptions)
	}
	seen := make(map[string]int, len(labels))
	for i, raw := range labels {
		l := strings.TrimSpace(raw)
		switch n := utf8.RuneCountInString(l); {
		case n == 0:
			return Poll{}, fmt.Errorf("%w: option %d is empty", ErrInvalid, i+1)
		case n > MaxLabel:
			return Poll{}, fmt.Errorf("%w: option %d has %d characters; at most %d", ErrInvalid, i+1, n, MaxLabel)
		}
		key := strings.ToLower(l)
		if j, dup := seen[key]; dup {
			return Poll{}, fmt.Errorf("%w: options %d and %d are the same (%q)", ErrInvalid, j+1, i+1, l)
		}
		seen[key] = i
		p.Options = append(p.Options, Option{ID: OptionID(i), Label: l})
	}
	return p, nil
}

// Default returns the default poll with the given labels for a and b.
func Default(labelA, labelB string) Poll {
	return Poll{
		ID:       DefaultID,
		Question: labelA + " vs " + labelB + "!",
		Options:  []Option{{ID: "a", Label: labelA}, {ID: "b", Label: labelB}},
		State:    StateOpen,
	}
}

// HasOption reports whether id is one of p's options.
func (p Poll) HasOption(id string) bool {
	for _, o := range p.Options {
		if o.ID == id {
			return true
		}
	}
	return false
}

// Label returns the label of option id, or "" when p has no such option.
func (p Poll) Label(id string) string {
	for _, o := range p.Options {
		if o.ID == id {
			return o.Label
		}
	}
	return ""
}

// OptionIDs returns p's option ids in order.
func (p Poll) OptionIDs() []string {
	ids := make([]string, len(p.Options))
	for i, o := range p.Options {
		ids[i] = o.ID
	}
	return ids
}

// Closed reports whether p takes no votes.
func (p Poll) Closed() bool { return p.State == StateClosed }

// CreateRequest is the JSON body of POST /api/polls.
type CreateRequest struct {
	Question string   `json:"question"`
	Options  []string `json:"options"`
}

// Created is the answer of POST /api/polls: the poll, where people reach
// it, and the token that manages it (shown once, never stored in clear).
type Created struct {
	Poll
	VoteURL     string `json:"vote_url"`
	ResultsURL  string `json:"results_url"`
	ManageURL   string `json:"manage_url"`
	ManageToken string `json:"manage_token"`
}

// NewManageToken returns a fresh manage token (43 URL-safe characters).
func NewManageToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what is stored of a manage token: its SHA-256, in hex. The
// token has 256 random bits, so no salt or slow hash is needed.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenMatches reports, in constant time, whether token is the one whose
// hash r keeps. A poll without a hash matches no token.
func (r Record) TokenMatches(token string) bool {
	if r.TokenHash == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(r.TokenHash)) == 1
}
