package tally

import _ "embed"

// ClientJS is the browser side of the tally, for any number of options:
// LiveTally.connect follows one poll's WebSocket (reconnecting with
// backoff, keeping the highest version of one epoch, taking any version
// of another epoch, ignoring other polls) and
// LiveTally.render fills the data-percent, data-count, data-bar and
// data-total elements of a page, with the percentages Percentages gives
// and the total in the words of the page's data-words-* attributes. The
// vote and result pages both serve it as /static/tally.js.
//
//go:embed client.js
var ClientJS []byte
