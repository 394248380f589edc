package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrAnswerMismatch is wrapped when a correctly signed answer is about
// something other than what was asked: another out_trade_no, another
// out_request_no, another trade_no than the one already known for the
// order, or another app_id. Such an answer is never used: not as a status,
// not as "paid", not as a confirmation. A misrouted or replayed answer (a
// proxy, a wrong gateway URL, a cache) is signed by Alipay all the same, so
// the signature alone proves only that Alipay said it, not about what.
var ErrAnswerMismatch = errors.New("支付宝网关答复的是另一笔订单或请求 / the gateway answered about something else")

// MismatchError says which echoed field differs from the request.
type MismatchError struct {
	Field string // out_trade_no, out_request_no, trade_no or app_id
	Asked string // what the request said (or the trade number known for the order)
	Got   string // what the answer said; "" when the answer did not say
}

func (e *MismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("%v: 答复中没有 %s, 无法确认答复的是这次请求 (请求的是 %q) / the answer does not say its %s, asked %q",
			ErrAnswerMismatch, e.Field, e.Asked, e.Field, e.Asked)
	}
	return fmt.Sprintf("%v: 请求的 %s 是 %q, 答复的却是 %q / asked %s %q, the answer is about %q",
		ErrAnswerMismatch, e.Field, e.Asked, clip(e.Got), e.Field, e.Asked, clip(e.Got))
}

// Unwrap lets errors.Is(err, ErrAnswerMismatch) see it.
func (e *MismatchError) Unwrap() error { return ErrAnswerMismatch }

// binding is what an answer must echo: each field of echo, when the answer
// carries it, equals the value asked; the fields in need must be there on a
// success. order is the out_trade_no whose known trade number is checked.
type binding struct {
	echo  map[string]string
	need  []string
	order string
}

// check compares a verified response object with what was asked. success
// says whether the answer was code 10000.
func (c *Client) check(ctx context.Context, b binding, content []byte, success bool) *MismatchError {
	if b.echo == nil {
		return nil
	}
	var got map[string]any
	if err := json.Unmarshal(content, &got); err != nil {
		return nil // decode reports a malformed object on its own
	}
	str := func(k string) (string, bool) {
		v, ok := got[k]
		if !ok || v == nil {
			return "", false
		}
		s, isStr := v.(string)
		if !isStr {
			s = fmt.Sprint(v)
		}
		return s, true
	}
	if v, ok := str("app_id"); ok && v != c.cfg.AppID {
		return &MismatchError{Field: "app_id", Asked: c.cfg.AppID, Got: v}
	}
	for _, k := range []string{"out_trade_no", "out_request_no"} {
		want, asked := b.echo[k]
		if !asked {
			continue
		}
		if v, ok := str(k); ok && v != want {
			if v == "" {
				v = `""`
			}
			return &MismatchError{Field: k, Asked: want, Got: v}
		}
	}
	if success {
		for _, k := range b.need {
			if v, ok := str(k); !ok || v == "" {
				return &MismatchError{Field: k, Asked: b.echo[k]}
			}
		}
	}
	if b.order != "" {
		tn, _ := str("trade_no")
		if known := c.trades.Known(ctx, b.order); known != "" && tn != "" && tn != known {
			return &MismatchError{Field: "trade_no", Asked: known, Got: tn}
		}
		if success && tn != "" {
			c.trades.Learn(b.order, tn)
		}
	}
	return nil
}

// DefaultTradeBookSize bounds a TradeBook made by NewClient.
const DefaultTradeBookSize = 10000

// TradeBook remembers the Alipay trade number of each order seen in a
// verified, bound answer, so that a later answer naming another trade
// number for the same out_trade_no is refused. It holds at most max
// orders, forgetting the oldest first. Share one between the clients of a
// process (Config.Trades). Safe for concurrent use.
type TradeBook struct {
	mu       sync.Mutex
	max      int
	nos      map[string]string
	order    []string
	fallback func(ctx context.Context, outTradeNo string) string
}

// SetFallback gives the book a second memory, asked for an order it does
// not hold: the trade numbers a ledger stored, which outlive a restart and
// are shared by replicas. f returns "" when it knows none (or cannot
// tell); what it returns is learnt.
func (b *TradeBook) SetFallback(f func(ctx context.Context, outTradeNo string) string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fallback = f
}

// Known returns the trade number known for an order, from the book or its
// fallback, or "".
func (b *TradeBook) Known(ctx context.Context, outTradeNo string) string {
	b.mu.Lock()
	tn, f := b.nos[outTradeNo], b.fallback
	b.mu.Unlock()
	if tn != "" || f == nil {
		return tn
	}
	if tn = f(ctx, outTradeNo); tn != "" {
		b.Learn(outTradeNo, tn)
		return b.Get(outTradeNo)
	}
	return ""
}

// NewTradeBook returns an empty book of at most max orders (≤0: the default).
func NewTradeBook(max int) *TradeBook {
	if max <= 0 {
		max = DefaultTradeBookSize
	}
	return &TradeBook{max: max, nos: map[string]string{}}
}

// Get returns the trade number known for an order, or "".
func (b *TradeBook) Get(outTradeNo string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nos[outTradeNo]
}

// Learn records an order's trade number; the first one learnt stays.
func (b *TradeBook) Learn(outTradeNo, tradeNo string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.nos[outTradeNo]; ok {
		return
	}
	if len(b.order) >= b.max {
		delete(b.nos, b.order[0])
		b.order = b.order[1:]
	}
	b.nos[outTradeNo] = tradeNo
	b.order = append(b.order, outTradeNo)
}
