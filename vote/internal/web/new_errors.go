package web

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"livevote/shared/poll"
)

// formError is one thing wrong with the new-poll form: the words of the
// summary above the form and, when one field is at fault, that field's id
// and the shorter words shown beside it, so a person (or a screen reader)
// finds the field the summary talks about.
type formError struct {
	Field string // the input's id ("question", "option-2", "token"); "" for the whole form
	Text  string // the summary's words
	Own   string // the field's own words, beside it
}

// optionField is the id of the form's option field i (0-based).
func optionField(i int) string { return "option-" + strconv.Itoa(i) }

// checkDefinition lists in lg everything wrong with a definition typed in
// the form, each option named by its field's number (empty fields are left
// out of the poll, not counted as errors unless too few are filled). It
// follows poll.New's rules; poll.New stays the judge, and what it refuses
// that this misses comes back through invalidErrors.
func checkDefinition(lg, question string, typed []string) []formError {
	var errs []formError
	switch n := utf8.RuneCountInString(strings.TrimSpace(question)); {
	case n == 0:
		errs = append(errs, formError{"question", catalog.T(lg, "new.e.qempty"), catalog.T(lg, "new.f.qempty")})
	case n > poll.MaxQuestion:
		errs = append(errs, formError{"question", catalog.T(lg, "new.e.qlong", n), catalog.T(lg, "new.f.qlong", n)})
	}
	filled := 0
	for _, l := range typed {
		if strings.TrimSpace(l) != "" {
			filled++
		}
	}
	switch {
	case filled < poll.MinOptions:
		// Point at the empty fields that would make up the two options
		// (the form always shows at least two).
		need := poll.MinOptions - filled
		for i := 0; i < poll.MinOptions && need > 0; i++ {
			if i < len(typed) && strings.TrimSpace(typed[i]) != "" {
				continue
			}
			text := ""
			if need == poll.MinOptions-filled {
				text = catalog.T(lg, "new.e.few")
			}
			errs = append(errs, formError{optionField(i), text, catalog.T(lg, "new.f.empty")})
			need--
		}
	case filled > poll.MaxOptions:
		errs = append(errs, formError{"", catalog.T(lg, "new.e.many"), ""})
	}
	seen := map[string]int{}
	for i, l := range typed {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if n := utf8.RuneCountInString(l); n > poll.MaxLabel {
			errs = append(errs, formError{optionField(i), catalog.T(lg, "new.e.long", i+1, n), catalog.T(lg, "new.f.long", n)})
			continue
		}
		key := strings.ToLower(l)
		if j, ok := seen[key]; ok {
			errs = append(errs, formError{optionField(i), catalog.T(lg, "new.e.dup", j+1, i+1), catalog.T(lg, "new.f.dup", j+1)})
			continue
		}
		seen[key] = i
	}
	return errs
}

// The kinds of poll.ErrInvalid, told apart by their English text (what
// follows "poll: invalid definition: "), so that a page in another
// language can say them in its own words. Numbers in them count the
// labels given to poll.New, starting at 1.
var (
	invalidQuestionEmpty = regexp.MustCompile(`^the question is empty`)
	invalidQuestionLong  = regexp.MustCompile(`^the question has (\d+) characters`)
	invalidCount         = regexp.MustCompile(`^(\d+) options;`)
	invalidOptionEmpty   = regexp.MustCompile(`^option (\d+) is empty`)
	invalidOptionLong    = regexp.MustCompile(`^option (\d+) has (\d+) characters`)
	invalidDuplicate     = regexp.MustCompile(`^options (\d+) and (\d+) are the same`)
)

// invalidErrors says in lg what a poll.ErrInvalid error of poll.New says,
// for labels taken from form fields: fields[k] is the field (0-based) that
// label k came from. An error of a kind it does not know gets general
// words rather than English ones.
func invalidErrors(lg string, err error, fields []int) []formError {
	if !errors.Is(err, poll.ErrInvalid) {
		return nil
	}
	text := invalidText(err)
	// field turns a label number of the error (1-based) into its field.
	field := func(s string) int {
		k, _ := strconv.Atoi(s)
		if k >= 1 && k <= len(fields) {
			return fields[k-1]
		}
		return k - 1
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch {
	case invalidQuestionEmpty.MatchString(text):
		return []formError{{"question", catalog.T(lg, "new.e.qempty"), catalog.T(lg, "new.f.qempty")}}
	case invalidQuestionLong.MatchString(text):
		n := atoi(invalidQuestionLong.FindStringSubmatch(text)[1])
		return []formError{{"question", catalog.T(lg, "new.e.qlong", n), catalog.T(lg, "new.f.qlong", n)}}
	case invalidCount.MatchString(text):
		if atoi(invalidCount.FindStringSubmatch(text)[1]) > poll.MaxOptions {
			return []formError{{"", catalog.T(lg, "new.e.many"), ""}}
		}
		return []formError{{optionField(0), catalog.T(lg, "new.e.few"), ""}}
	case invalidOptionEmpty.MatchString(text):
		i := field(invalidOptionEmpty.FindStringSubmatch(text)[1])
		return []formError{{optionField(i), catalog.T(lg, "new.e.empty", i+1), catalog.T(lg, "new.f.empty")}}
	case invalidOptionLong.MatchString(text):
		m := invalidOptionLong.FindStringSubmatch(text)
		i, n := field(m[1]), atoi(m[2])
		return []formError{{optionField(i), catalog.T(lg, "new.e.long", i+1, n), catalog.T(lg, "new.f.long", n)}}
	case invalidDuplicate.MatchString(text):
		m := invalidDuplicate.FindStringSubmatch(text)
		j, i := field(m[1]), field(m[2])
		return []formError{{optionField(i), catalog.T(lg, "new.e.dup", j+1, i+1), catalog.T(lg, "new.f.dup", j+1)}}
	}
	return []formError{{"", catalog.T(lg, "new.e.invalid"), ""}}
}
