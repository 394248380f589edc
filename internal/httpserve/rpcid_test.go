package httpserve

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Over HTTP too, every request is answered under exactly the id it carried
// (the SDK alone answers 9007199254740993 as 9007199254740992), or refused
// as Invalid Request under that id.
func TestJSONRPCIDsExactOverHTTP(t *testing.T) {
	h := start(t, nil)
	for _, tc := range []struct {
		id   string
		code int
	}{
		{"9007199254740993", 0},
		{"9223372036854775807", 0},
		{"-0", 0},
		{"7", 0},
		{"1.5", -32600},
		{"18446744073709551616", -32600},
	} {
		t.Run(tc.id, func(t *testing.T) {
			resp, body := h.post(t, strings.Replace(initBody, `"id":1`, `"id":`+tc.id, 1), nil)
			if i := strings.Index(body, "data:"); i >= 0 {
				body = strings.TrimSpace(strings.SplitN(body[i+len("data:"):], "\n", 2)[0])
			}
			var m struct {
				ID    json.RawMessage `json:"id"`
				Error *struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("HTTP %d: %v\n%s", resp.StatusCode, err, body)
			}
			code := 0
			if m.Error != nil {
				code = m.Error.Code
			}
			if string(m.ID) != tc.id || code != tc.code {
				t.Errorf("HTTP %d: sent id %s, answered id %s code %d; want code %d\n%s", resp.StatusCode, tc.id, m.ID, code, tc.code, body)
			}
			if tc.code == 0 && resp.StatusCode != http.StatusOK {
				t.Errorf("HTTP %d", resp.StatusCode)
			}
		})
	}
}
