// Package ui serves the agent's dashboard on its listener: every
// environment as one card (deployed and wanted commit, state, the running
// deploy's steps, wait and timeline, history from the notes, per-server
// logs). Pages are rendered on the server with html/template from assets
// embedded in the binary; with JavaScript on, one server-sent event stream
// fed by the agent's changes replaces the cards that changed, and with it
// off the page refreshes itself.
package ui
