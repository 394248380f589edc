package paidhook

// Receivers that check deliveries the way each peer does, written from the
// documents' own words and not from this package's signing code: the
// generic receiver from the README's recipe, the bots from their
// documentation quoted in bots.go.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// delivery is one request a receiver got.
type delivery struct {
	EventID string // header (generic) or parsed from the text (bots)
	Attempt string
	Body    []byte
	Text    string // the message text, bots only
	Problem string // "" when the request passed the receiver's checks
}

// receiver records requests and answers each with respond(n), n counting
// from 1, after checking it.
type receiver struct {
	mu       sync.Mutex
	got      []delivery
	check    func(r *http.Request, body []byte) delivery
	respond  func(n int, w http.ResponseWriter, d delivery)
	received chan struct{} // gets a value per request, when non-nil
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := rc.check(r, body)
	rc.mu.Lock()
	rc.got = append(rc.got, d)
	n := len(rc.got)
	rc.mu.Unlock()
	if rc.received != nil {
		rc.received <- struct{}{}
	}
	rc.respond(n, w, d)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// verifyGeneric is the README's recipe: split the header at commas, take
// t and v1, HMAC-SHA256 "t.body" with the secret, compare in constant
// time, and refuse a t more than five minutes off.
func verifyGeneric(secret string) func(r *http.Request, body []byte) delivery {
	return func(r *http.Request, body []byte) delivery {
		d := delivery{EventID: r.Header.Get("X-Alipay-MCP-Event-Id"), Attempt: r.Header.Get("X-Alipay-MCP-Attempt"), Body: body}
		var ts, v1 string
		for _, kv := range strings.Split(r.Header.Get("X-Alipay-MCP-Signature"), ",") {
			if v, ok := strings.CutPrefix(kv, "t="); ok {
				ts = v
			}
			if v, ok := strings.CutPrefix(kv, "v1="); ok {
				v1 = v
			}
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + string(body)))
		want := hex.EncodeToString(m.Sum(nil))
		sec, err := strconv.ParseInt(ts, 10, 64)
		switch {
		case err != nil || !hmac.Equal([]byte(v1), []byte(want)):
			d.Problem = "bad signature"
		case time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
			d.Problem = "stale timestamp"
		case r.Header.Get("Content-Type") != "application/json; charset=utf-8":
			d.Problem = "content type " + r.Header.Get("Content-Type")
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			d.Problem = "body is not JSON"
		} else if p["id"] != d.EventID {
			d.Problem = fmt.Sprintf("body id %v, header id %s", p["id"], d.EventID)
		}
		return d
	}
}

// javaURLEncode is java.net.URLEncoder.encode(s, "UTF-8"), which the
// DingTalk document's sample applies to the base64 signature: letters,
// digits and ".-*_" stay, a space becomes "+", every other byte %XX.
func javaURLEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte(".-*_", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// rawQueryParam returns a parameter's value from the raw query, still
// encoded as it travelled.
func rawQueryParam(raw, name string) string {
	for _, kv := range strings.Split(raw, "&") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// verifyDingTalk checks a request as the DingTalk robot does: the path,
// the access_token, and with a secret the timestamp (ms, within an hour)
// and sign = urlEncode(base64(HmacSHA256(key=secret, timestamp+"\n"+secret))).
func verifyDingTalk(token, secret string) func(r *http.Request, body []byte) delivery {
	return func(r *http.Request, body []byte) delivery {
		d := delivery{Body: body}
		var m struct {
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.MsgType != "text" {
			d.Problem = "not a text message"
		}
		d.Text = m.Text.Content
		d.EventID = eventIDInText(d.Text)
		raw := r.URL.RawQuery
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/robot/send":
			d.Problem = "wrong method or path " + r.URL.Path
		case rawQueryParam(raw, "access_token") != token:
			d.Problem = "wrong access_token"
		}
		if secret != "" {
			ts := rawQueryParam(raw, "timestamp")
			ms, err := strconv.ParseInt(ts, 10, 64)
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "\n" + secret))
			want := javaURLEncode(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			switch {
			case err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Hour:
				d.Problem = "timestamp missing or more than an hour off"
			case rawQueryParam(raw, "sign") != want:
				d.Problem = "sign not match"
			}
		}
		return d
	}
}

// verifyWeCom checks a request as the WeCom robot does: the key in the
// query and a text message of at most 2048 bytes.
func verifyWeCom(key string) func(r *http.Request, body []byte) delivery {
	return func(r *http.Request, body []byte) delivery {
		d := delivery{Body: body}
		var m struct {
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.MsgType != "text" {
			d.Problem = "not a text message"
		}
		d.Text = m.Text.Content
		d.EventID = eventIDInText(d.Text)
		switch {
		case r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != key:
			d.Problem = "wrong path or key"
		case len(d.Text) > 2048:
			d.Problem = "content longer than 2048 bytes"
		}
		return d
	}
}

// verifyFeishu checks a request as the Feishu bot does: with a secret,
// "timestamp" (seconds, within an hour) and "sign" in the body, sign =
// base64(HmacSHA256 keyed with timestamp+"\n"+secret over nothing).
func verifyFeishu(hook, secret string) func(r *http.Request, body []byte) delivery {
	return func(r *http.Request, body []byte) delivery {
		d := delivery{Body: body}
		var m struct {
			Timestamp string `json:"timestamp"`
			Sign      string `json:"sign"`
			MsgType   string `json:"msg_type"`
			Content   struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.MsgType != "text" {
			d.Problem = "not a text message"
		}
		d.Text = m.Content.Text
		d.EventID = eventIDInText(d.Text)
		if r.URL.Path != "/open-apis/bot/v2/hook/"+hook {
			d.Problem = "wrong hook " + r.URL.Path
		}
		if secret != "" {
			sec, err := strconv.ParseInt(m.Timestamp, 10, 64)
			mac := hmac.New(sha256.New, []byte(m.Timestamp+"\n"+secret))
			want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
			switch {
			case err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Hour:
				d.Problem = "timestamp missing or more than an hour off"
			case m.Sign != want:
				d.Problem = "sign match fail"
			}
		}
		return d
	}
}

func eventIDInText(text string) string {
	_, id, _ := strings.Cut(text, "事件 / Event: ")
	return strings.TrimSpace(id)
}

// Answers as each peer gives them.
func answerGeneric(w http.ResponseWriter, d delivery) {
	if d.Problem != "" {
		http.Error(w, d.Problem, http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func answerErrcode(w http.ResponseWriter, d delivery, failCode int) {
	w.Header().Set("Content-Type", "application/json")
	if d.Problem != "" {
		fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, failCode, d.Problem)
		return
	}
	fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
}

func answerFeishu(w http.ResponseWriter, d delivery) {
	w.Header().Set("Content-Type", "application/json")
	if d.Problem != "" {
		fmt.Fprintf(w, `{"code":19021,"data":{},"msg":%q}`, d.Problem)
		return
	}
	fmt.Fprint(w, `{"code":0,"msg":"success","data":{},"Extra":null,"StatusCode":0,"StatusMessage":"success"}`)
}
