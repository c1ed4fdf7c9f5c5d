package tally

import _ "embed"

// ClientJS is the browser side of the tally: a WebSocket that reconnects
// with backoff, keeps the highest version, and renders the percentages the
// same way Percentages does. The vote and result pages both serve it.
//
//go:embed client.js
var ClientJS []byte
