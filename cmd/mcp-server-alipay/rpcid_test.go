package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Over stdio, the server answers every request under exactly the id it
// carried (the Go SDK alone turns 9007199254740993 into 9007199254740992),
// or refuses it as Invalid Request under that id, and serves on.
func TestJSONRPCIDsExact(t *testing.T) {
	w := startRaw(t, newEnv(t, nil))
	tests := []struct {
		id   string
		code int
	}{
		{"9007199254740993", 0},
		{"9223372036854775807", 0},
		{"-9223372036854775808", 0},
		{"-0", 0},
		{"42", 0},
		{`"9007199254740993"`, 0},
		{"1.5", -32600},
		{"2e3", -32600},
		{"9223372036854775808", -32600},
		{"true", -32600},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			w.send(`{"jsonrpc":"2.0","id":` + tt.id + `,"method":"tools/list"}`)
			line := w.next()
			var m struct {
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			code := 0
			if m.Error != nil {
				code = m.Error.Code
				if !strings.Contains(m.Error.Message, "无效的请求 / Invalid Request") {
					t.Errorf("refusal not explained: %s", line)
				}
			}
			if got := rawID(t, line); got != tt.id || code != tt.code {
				t.Errorf("sent id %s, answered id %s code %d; want %s code %d\n%s", tt.id, got, code, tt.id, tt.code, line)
			}
		})
	}
}
