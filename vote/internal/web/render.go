package web

import (
	"bytes"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"livevote/shared/fiberops"
	"livevote/shared/i18n"
)

// layout is what every page shows around its content.
type layout struct {
	Lang    string
	Title   string
	Switch  []langLink
	Host    string
	Scripts []string
}

// langLink is one entry of the language switch: this page in Lang.
type langLink struct {
	Lang, Name, URL string
	Current         bool
}

// newLayout fills the layout of a page in lang titled title.
func (d *deps) newLayout(c *fiber.Ctx, lang, title string, scripts ...string) layout {
	l := layout{Lang: lang, Title: title, Host: d.hostname, Scripts: scripts}
	// The switch keeps the page's other parameters (the manage page's
	// token) and replaces only lang.
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	for _, code := range i18n.Languages {
		q.Set("lang", code)
		l.Switch = append(l.Switch, langLink{
			Lang: code, Name: catalog.T(code, "lang."+code),
			URL: c.Path() + "?" + q.Encode(), Current: code == lang,
		})
	}
	return l
}

// page renders the template name with data and answers status.
func (d *deps) page(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

type messagePage struct {
	layout
	Text string
}

// message answers status with a page that says title and text.
func (d *deps) message(c *fiber.Ctx, status int, lang, title, text string) error {
	return d.page(c, status, "message", messagePage{layout: d.newLayout(c, lang, title), Text: text})
}

// notFound is the page of an unknown poll.
func (d *deps) notFound(c *fiber.Ctx, lang string) error {
	return d.message(c, fiber.StatusNotFound, lang, catalog.T(lang, "notfound.title"), catalog.T(lang, "notfound.text"))
}

// unavailable is the page shown when Redis does not answer.
func (d *deps) unavailable(c *fiber.Ctx, lang string) error {
	return d.message(c, fiber.StatusServiceUnavailable, lang, catalog.T(lang, "down.title"), catalog.T(lang, "down.text"))
}

// forbidden is the page of a missing or wrong manage token.
func (d *deps) forbidden(c *fiber.Ctx, lang string) error {
	return d.message(c, fiber.StatusForbidden, lang, catalog.T(lang, "denied.title"), catalog.T(lang, "denied.text"))
}

// lang is the page language of c.
func lang(c *fiber.Ctx) string { return fiberops.Lang(c) }
