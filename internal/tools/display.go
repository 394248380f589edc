package tools

import "github.com/mcp-server-alipay/mcp-server-alipay/internal/display"

// Text from outside is shown through package display (see display.Text for
// what it does and why look-alikes rather than escapes).

func displayText(s string, max int) string  { return display.Text(s, max) }
func displayTitle(s string, max int) string { return display.Title(s, max) }
func displayErr(err error) string           { return display.Err(err) }
func oneLine(s string, max int) string      { return display.Line(s, max) }
