package web

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"livevote/shared/i18n"
	"livevote/shared/poll"
)

func TestCheckDefinition(t *testing.T) {
	long := strings.Repeat("x", poll.MaxLabel+1)
	for _, tt := range []struct {
		name     string
		lang     string
		question string
		typed    []string
		want     []formError
	}{
		{"valid", i18n.English, "Lunch?", []string{"Pizza", "", "Sushi"}, nil},
		{"no question", i18n.English, "  ", []string{"a", "b"},
			[]formError{{"question", "the question is empty.", "Type a question."}}},
		{"one option points at the first empty field", i18n.English, "Q", []string{"", "Pizza", ""},
			[]formError{{"option-0", "fill in at least 2 options.", "Fill in this option."}}},
		{"no option marks two fields, one summary line", i18n.Spanish, "Q", []string{"", ""},
			[]formError{{"option-0", "rellena al menos 2 opciones.", "Rellena esta opción."}, {"option-1", "", "Rellena esta opción."}}},
		{"duplicate marks the later field", i18n.English, "Q", []string{"Pizza", "", "pizza "},
			[]formError{{"option-2", "options 1 and 3 are the same.", "The same as option 1: change one of them."}}},
		{"duplicate in Spanish", i18n.Spanish, "Q", []string{"Rojo", "rojo"},
			[]formError{{"option-1", "las opciones 1 y 2 son iguales.", "Igual que la opción 1: cambia una de las dos."}}},
		{"too long and duplicate both", i18n.English, "Q", []string{"a", long, "A"},
			[]formError{
				{"option-1", "option 2 has 81 characters; at most 80.", "81 characters; shorten it to 80 at most."},
				{"option-2", "options 1 and 3 are the same.", "The same as option 1: change one of them."},
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := checkDefinition(tt.lang, tt.question, tt.typed)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestInvalidErrors feeds poll.New's own errors through the parser, so a
// change of their words in shared/poll fails here instead of leaving
// Spanish pages with general words.
func TestInvalidErrors(t *testing.T) {
	labels := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprint("option ", i)
		}
		return l
	}
	for _, tt := range []struct {
		name     string
		question string
		labels   []string
		fields   []int
		want     formError
	}{
		{"question empty", " ", []string{"a", "b"}, []int{0, 1},
			formError{"question", "la pregunta está vacía.", "Escribe una pregunta."}},
		{"question long", strings.Repeat("q", 201), []string{"a", "b"}, []int{0, 1},
			formError{"question", "la pregunta tiene 201 caracteres; como máximo 200.", "201 caracteres; acórtala a 200 como máximo."}},
		{"too few", "Q", []string{"a"}, []int{0},
			formError{"option-0", "rellena al menos 2 opciones.", ""}},
		{"too many", "Q", labels(13), nil,
			formError{"", "como máximo 12 opciones.", ""}},
		{"empty label, named by its field", "Q", []string{"a", " "}, []int{0, 3},
			formError{"option-3", "la opción 4 está vacía.", "Rellena esta opción."}},
		{"long label", "Q", []string{"a", strings.Repeat("x", 81)}, []int{0, 2},
			formError{"option-2", "la opción 3 tiene 81 caracteres; como máximo 80.", "81 caracteres; acórtala a 80 como máximo."}},
		{"duplicate, named by fields", "Q", []string{"Rojo", "ROJO"}, []int{1, 4},
			formError{"option-4", "las opciones 2 y 5 son iguales.", "Igual que la opción 2: cambia una de las dos."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := poll.New(poll.NewID(), tt.question, tt.labels, time.Now())
			if err == nil {
				t.Fatal("poll.New accepted the definition")
			}
			got := invalidErrors(i18n.Spanish, err, tt.fields)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("from %q: got %+v, want %+v", err, got, tt.want)
			}
		})
	}
	// An error of a kind the parser does not know gets general words.
	_, err := poll.New("NOT AN ID", "Q", []string{"a", "b"}, time.Now())
	if got := invalidErrors(i18n.Spanish, err, []int{0, 1}); len(got) != 1 || got[0].Text != "la definición de la encuesta no es válida." {
		t.Errorf("unknown kind: got %+v, want the general Spanish words", got)
	}
}

// TestNewFormFieldErrors checks that a refused form points at its fields:
// the summary links to them, each has aria-invalid and its own words tied
// with aria-describedby.
func TestNewFormFieldErrors(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	for _, tt := range []struct {
		name, path, body string
		want             []string
		notWant          []string
	}{
		{"duplicate", "/new", "question=Colour&option=Red&option=red&option=",
			[]string{
				`<a href="#option-1">options 1 and 2 are the same.</a>`,
				`id="option-1-error"`,
				`The same as option 1: change one of them.`,
				`id="option-1" name="option" type="text" maxlength="80" value="red" aria-describedby="option-1-error options-hint" autocomplete="off" aria-invalid="true"`,
			},
			[]string{`id="option-0-error"`, `id="option-2-error"`, `id="question-error"`}},
		{"duplicate in Spanish", "/new?lang=es", "question=Color&option=Rojo&option=rojo",
			[]string{`<a href="#option-1">las opciones 1 y 2 son iguales.</a>`, `Igual que la opción 1`, `aria-invalid="true"`},
			[]string{"are the same"}},
		{"question empty", "/new", "question=&option=Red&option=Blue",
			[]string{`<a href="#question">the question is empty.</a>`, `aria-invalid="true" aria-describedby="question-error"`, `Type a question.`},
			nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do("POST", tt.path, formType, tt.body)
			if resp.StatusCode != 400 {
				t.Errorf("got status %d, want 400", resp.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s:\n%s", w, body)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page has %s, want it not:\n%s", w, body)
				}
			}
			if n := strings.Count(body, `aria-invalid="true"`); n != 1 {
				t.Errorf("got %d fields marked invalid, want 1", n)
			}
			checkNoInline(t, body)
		})
	}
}

// TestNewFormLayout checks the order people meet the form in: the option
// fields, "add option" right under the last of them, then the one primary
// action; after an "add" without JavaScript the new field has the focus.
func TestNewFormLayout(t *testing.T) {
	a := newTestApp(t, &fakeStore{})
	_, body := a.do("GET", "/new", "", "")
	order := regexp.MustCompile(`(?s)id="option-2".*?</p>\s*<p class="add-row"><button type="submit" id="add-option"[^>]*name="add"[^>]*>.*?</fieldset>.*?<button type="submit" id="create" class="primary">`)
	if !order.MatchString(body) {
		t.Errorf("want add option right under the last option field, then create:\n%s", body)
	}
	if strings.Count(body, `class="primary"`) != 1 || strings.Contains(body, "autofocus") {
		t.Errorf("want one primary button and no autofocus on a fresh form:\n%s", body)
	}
	_, body = a.do("POST", "/new", formType, "question=Q&option=a&option=b&option=c&add=1")
	if !strings.Contains(body, `id="option-3" name="option" type="text" maxlength="80" value="" aria-describedby="options-hint" autocomplete="off" autofocus>`) {
		t.Errorf("after add: want the new field option-3 focused:\n%s", body)
	}
}
