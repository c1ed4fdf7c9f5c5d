// Package i18n chooses the language of a page (English or Spanish) and
// looks up its words. Each server keeps its own Catalog of the words its
// pages show; the choice of language is the same everywhere: a ?lang=
// switch, then the lang cookie the switch sets, then Accept-Language.
package i18n

import (
	"fmt"
	"strconv"
	"strings"
)

// The languages the pages speak; English is the fallback.
const (
	English = "en"
	Spanish = "es"
)

// Languages lists the supported languages in the order the switch shows them.
var Languages = []string{English, Spanish}

// CookieName is the cookie that keeps a visitor's choice from the switch.
const CookieName = "lang"

// Supported reports whether lang is one of Languages.
func Supported(lang string) bool {
	return lang == English || lang == Spanish
}

// Negotiate returns the page's language: the switch's query value when
// supported, else the cookie's, else the best match of the Accept-Language
// header (highest q, then order), else English.
func Negotiate(query, cookie, acceptLanguage string) string {
	if Supported(query) {
		return query
	}
	if Supported(cookie) {
		return cookie
	}
	best, bestQ := English, 0.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if Supported(base) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// Catalog maps a message key to its text in each language, in
// fmt.Sprintf form: Catalog{"total.n": {English: "%d votes", Spanish: "%d votos"}}.
type Catalog map[string]map[string]string

// T returns the text of key in lang, formatted with args; English when
// lang lacks it, and the key itself when the catalog has no such key (a
// test catches that, never a visitor's page crashing).
func (c Catalog) T(lang, key string, args ...any) string {
	texts, ok := c[key]
	if !ok {
		return key
	}
	s, ok := texts[lang]
	if !ok {
		s = texts[English]
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Missing returns the keys of c that lack a text in one of Languages, for
// a test that keeps the catalog complete.
func (c Catalog) Missing() []string {
	var out []string
	for key, texts := range c {
		for _, l := range Languages {
			if texts[l] == "" {
				out = append(out, key+" ("+l+")")
			}
		}
	}
	return out
}
