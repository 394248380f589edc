package paidhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The group bots' formats, checked against their public documentation:
//
// DingTalk (钉钉) custom robot, "自定义机器人接入" / custom-robot-access
// (open.dingtalk.com/document/group/custom-robot-access, as mirrored at
// apifox.com/apidoc/docs-site/467052/doc-3550006):
//   - POST https://oapi.dingtalk.com/robot/send?access_token=XXX with
//     {"msgtype":"text","text":{"content":"…"}}, UTF-8.
//   - 加签: "把timestamp+"\n"+密钥当做签名字符串,使用HmacSHA256算法计算签名,
//     然后进行Base64 encode,最后再把签名参数再进行urlEncode"; the key of the
//     HMAC is the secret (the Java sample: mac.init(new SecretKeySpec(secret…))).
//     timestamp is in milliseconds, "与请求调用时间误差不能超过1小时"; both go
//     in the query: …&timestamp=XXX&sign=XXX.
//   - Success is {"errcode":0,"errmsg":"ok"}; a refused security check
//     (sign, keyword, IP) is errcode 310000 (which the dingtalk-robot-sdk
//     npm package reports as "check safe config"), over the rate limit
//     errcode 90030 "webhook over limit" (a Q&A page at 39.107.221.112/ask/595588).
//     "每个机器人每分钟最多发送20条"
//     (zhuoqun.info/article/182, quoting developers.dingtalk.com).
//
// WeCom (企业微信) group robot, "群机器人配置说明"
// (developer.work.weixin.qq.com/document/path/91770, as quoted at
// blog.csdn.net/liuxingxing_star/article/details/128659150):
//   - POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=XXX with
//     {"msgtype":"text","text":{"content":"…"}}; content "最长不超过2048个字节,
//     必须是utf8编码". No signature: the key in the URL is the credential.
//   - Success is {"errcode":0,"errmsg":"ok"}. At most 20 messages a minute.
//
// Feishu (飞书) / Lark custom bot, "自定义机器人使用指南"
// (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot, as quoted at
// aitechtogether.com/it/354984.html and blog.csdn.net/zhanglili1993/article/details/136473704;
// the Lark host from beszel.dev/guide/notifications/lark):
//   - POST https://open.feishu.cn/open-apis/bot/v2/hook/XXX (Lark:
//     open.larksuite.com) with {"msg_type":"text","content":{"text":"…"}}.
//   - 签名校验: "将timestamp + "\n" + 密钥当做签名字符串,使用 HmacSHA256 算法计算
//     签名,再进行 Base64 编码"; unlike DingTalk, that string is the HMAC's KEY
//     and the message is empty: the guide's Java SignDemo does
//     mac.init(new SecretKeySpec(stringToSign…)); mac.doFinal(new byte[]{})
//     (quoted at blog.csdn.net/ASDQWE09876/article/details/144612767), its
//     Python sample hmac.new(key_enc, msg="" …). timestamp is in seconds,
//     "距当前时间不超过 1 小时"; "timestamp" and "sign" go in the JSON body
//     next to msg_type (juejin.cn/post/7391005009667293199).
//   - Success is {"code":0,"msg":"success","data":{}} (with redundant
//     StatusCode 0 for old clients); a bad sign is {"code":19021,"msg":"sign
//     match fail or timestamp is not within one hour from current time"},
//     a bad body code 9499.

// botText is the request body of DingTalk and WeCom text messages.
type botText struct {
	MsgType string `json:"msgtype"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
}

// feishuText is the request body of a Feishu text message.
type feishuText struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Content   struct {
		Text string `json:"text"`
	} `json:"content"`
}

// request builds the HTTP request of one delivery attempt of e at now.
func (t Target) request(ctx context.Context, e Event, attempt int, now time.Time) (*http.Request, error) {
	u := *t.u
	var body []byte
	switch t.kind {
	case DingTalk, WeCom:
		var m botText
		m.MsgType = "text"
		m.Text.Content = e.Text()
		body, _ = json.Marshal(m)
		if t.kind == DingTalk && t.secret != "" {
			ts := strconv.FormatInt(now.UnixMilli(), 10)
			q := u.Query()
			q.Set("timestamp", ts)
			// Encode url-encodes the base64 once: the "urlEncode" step.
			q.Set("sign", base64.StdEncoding.EncodeToString(hmacSHA256([]byte(t.secret), []byte(ts+"\n"+t.secret))))
			u.RawQuery = q.Encode()
		}
	case Feishu:
		var m feishuText
		m.MsgType = "text"
		m.Content.Text = e.Text()
		if t.secret != "" {
			m.Timestamp = strconv.FormatInt(now.Unix(), 10)
			m.Sign = base64.StdEncoding.EncodeToString(hmacSHA256([]byte(m.Timestamp+"\n"+t.secret), nil))
		}
		body, _ = json.Marshal(m)
	default:
		body = e.Body()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("构造请求失败 / building the request: %s", t.scrub(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "mcp-server-alipay-paidhook/1")
	if t.kind == Generic {
		req.Header.Set(HeaderSignature, Sign(t.secret, now, body))
		req.Header.Set(HeaderEventID, e.ID)
		req.Header.Set(HeaderEventType, TypeOrderPaid)
		req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	}
	return req, nil
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// check reads the answer and returns nil only for a delivery the receiver
// took: a 2xx from a generic endpoint, and for a bot also errcode 0
// (DingTalk, WeCom) or code 0 (Feishu) in the JSON body, since the bots
// answer HTTP 200 to a refused message.
func (t Target) check(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	snippet := func() string {
		s := string(raw)
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return t.scrub(s)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("接收方返回 HTTP %d / the receiver answered HTTP %d: %s", resp.StatusCode, resp.StatusCode, snippet())
	}
	if t.kind == Generic {
		return nil
	}
	var r struct {
		ErrCode    *int   `json:"errcode"`
		ErrMsg     string `json:"errmsg"`
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("机器人的回答不是 JSON / the %s bot's answer is not JSON: %s", t.kind, snippet())
	}
	code, msg := r.ErrCode, r.ErrMsg
	if t.kind == Feishu {
		code, msg = r.Code, r.Msg
		if code == nil {
			code = r.StatusCode
		}
	}
	if code == nil {
		return fmt.Errorf("机器人的回答没有结果码 / the %s bot's answer has no result code: %s", t.kind, snippet())
	}
	if *code != 0 {
		return fmt.Errorf("机器人拒绝了消息, 错误码 %d / the %s bot refused the message with code %d: %s", *code, t.kind, *code, t.scrub(msg))
	}
	return nil
}
