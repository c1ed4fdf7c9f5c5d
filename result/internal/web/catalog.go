package web

import "livevote/shared/i18n"

// catalog holds every word the result server's pages show, in English and
// Spanish. Totals use "%d" for the number, here and in the data-words-*
// attributes the page script reads.
var catalog = i18n.Catalog{
	"site.name":          {i18n.English: "Live vote", i18n.Spanish: "Votación en vivo"},
	"site.new":           {i18n.English: "New poll", i18n.Spanish: "Nueva encuesta"},
	"results.final":      {i18n.English: "Final results", i18n.Spanish: "Resultados finales"},
	"link.see":           {i18n.English: "See the poll", i18n.Spanish: "Ver la encuesta"},
	"results.title":      {i18n.English: "Results", i18n.Spanish: "Resultados"},
	"present.title":      {i18n.English: "Presenter view", i18n.Spanish: "Vista de presentación"},
	"total.none":         {i18n.English: "No votes yet", i18n.Spanish: "Aún no hay votos"},
	"total.one":          {i18n.English: "1 vote", i18n.Spanish: "1 voto"},
	"total.many":         {i18n.English: "%d votes", i18n.Spanish: "%d votos"},
	"state.open":         {i18n.English: "Open: results update live", i18n.Spanish: "Abierta: los resultados se actualizan en directo"},
	"state.closed":       {i18n.English: "Closed: these are the final results", i18n.Spanish: "Cerrada: estos son los resultados finales"},
	"state.open.short":   {i18n.English: "Open", i18n.Spanish: "Abierta"},
	"state.closed.short": {i18n.English: "Closed", i18n.Spanish: "Cerrada"},
	"live.live":          {i18n.English: "Live", i18n.Spanish: "En directo"},
	"live.reconnecting":  {i18n.English: "Reconnecting…", i18n.Spanish: "Reconectando…"},
	"live.static":        {i18n.English: "Reload the page for newer numbers", i18n.Spanish: "Recarga la página para ver cifras nuevas"},
	"results.list":       {i18n.English: "Results by option", i18n.Spanish: "Resultados por opción"},
	"link.vote":          {i18n.English: "Vote", i18n.Spanish: "Votar"},
	"link.present":       {i18n.English: "Presenter view", i18n.Spanish: "Vista de presentación"},
	"link.results":       {i18n.English: "Results page", i18n.Spanish: "Página de resultados"},
	"link.csv":           {i18n.English: "Download the results (CSV)", i18n.Spanish: "Descargar los resultados (CSV)"},
	"links":              {i18n.English: "Poll links", i18n.Spanish: "Enlaces de la encuesta"},
	"join.heading":       {i18n.English: "Vote now", i18n.Spanish: "Vota ahora"},
	"join.scan":          {i18n.English: "Scan the code or go to", i18n.Spanish: "Escanea el código o entra en"},
	"join.qr":            {i18n.English: "QR code of the vote link %s", i18n.Spanish: "Código QR del enlace para votar %s"},
	"lang.switch":        {i18n.English: "Language", i18n.Spanish: "Idioma"},
	"notfound.title":     {i18n.English: "Poll not found", i18n.Spanish: "Encuesta no encontrada"},
	"notfound.text":      {i18n.English: "There is no poll at this address. Check the link, or ask whoever shared it.", i18n.Spanish: "No hay ninguna encuesta en esta dirección. Revisa el enlace o pregunta a quien lo compartió."},
	"notfound.home":      {i18n.English: "See the default poll's results", i18n.Spanish: "Ver los resultados de la encuesta principal"},
	"unavailable.title":  {i18n.English: "Results unavailable", i18n.Spanish: "Resultados no disponibles"},
	"unavailable.text":   {i18n.English: "The results cannot be read right now. Try again in a moment.", i18n.Spanish: "Ahora mismo no se pueden leer los resultados. Inténtalo de nuevo en un momento."},
}

// langNames are the switch's labels, each in its own language.
var langNames = map[string]string{i18n.English: "English", i18n.Spanish: "Español"}
