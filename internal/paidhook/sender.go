package paidhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Outbox is the queue the sender drains: the ledger's outbox table, where
// an order.paid event is written in the same transaction that records the
// payment. Three calls, each one statement on a SQL table:
//
//   - Claim leases up to n events that are not delivered, whose next attempt
//     is due, and whose lease is free or expired, to owner until now+lease,
//     and returns them oldest first. A sender killed mid-delivery never
//     reports back; its lease expires and the next Claim (its own after a
//     restart, or another process's) hands the event out again.
//   - Delivered marks the event delivered; it is never handed out again.
//   - Failed records a failed attempt: the attempts so far, when to try
//     next, the (already redacted) error, and frees the lease. It must not
//     undo Delivered (a stale sender may report late).
type Outbox interface {
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Event, error)
	Delivered(ctx context.Context, id string) error
	Failed(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
}

// Options configure a Sender. Only Target is required.
type Options struct {
	Target Target       // AP_PAID_WEBHOOK and its secret (config.Config.PaidWebhook)
	Logger *slog.Logger // nil discards
	// Count, when not nil, is told of every delivery attempt's outcome:
	// "delivered" or "failed" (for /metrics).
	Count func(outcome string)
	// Client sends the requests; nil is a client that follows no redirect
	// (a signed event is not re-posted to another address). Its Timeout,
	// if any, applies on top of Options.Timeout.
	Client *http.Client
	// Owner names this sender in the outbox's leases; default
	// "<hostname>-<pid>-<random>".
	Owner      string
	Timeout    time.Duration // per attempt; default 10s
	MinBackoff time.Duration // wait after the first failure; default 2s
	MaxBackoff time.Duration // longest wait between attempts; default 30m
	Poll       time.Duration // how often to look for due events without a Wake; default 2s
	Batch      int           // events claimed at once; default 8
	// Lease is how long a claim holds before another sender may take the
	// event; default (Batch+1)·Timeout + 10s, enough to try the batch.
	Lease time.Duration
}

// Sender delivers the outbox's events to the target: at least once, under
// each event's stable id, retrying with exponential backoff and jitter
// until the receiver takes it. Run drives it; Wake makes it look at once.
type Sender struct {
	outbox Outbox
	opts   Options
	log    *slog.Logger
	client *http.Client
	wake   chan struct{}
	now    func() time.Time
	// due is the earliest retry this sender scheduled since its last
	// claim: Run looks again then, not only at the next poll. Run's
	// goroutine alone touches it.
	due time.Time
}

// NewSender returns a sender of outbox's events to opts.Target.
func NewSender(outbox Outbox, opts Options) (*Sender, error) {
	if outbox == nil {
		return nil, errors.New("paidhook: nil outbox")
	}
	if opts.Target.IsZero() {
		return nil, errors.New("paidhook: no target (AP_PAID_WEBHOOK is not set)")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Minute
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 8
	}
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	s := &Sender{outbox: outbox, opts: opts, log: opts.Logger, client: opts.Client, wake: make(chan struct{}, 1), now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return s, nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Owner is the name this sender leases events under.
func (s *Sender) Owner() string { return s.opts.Owner }

// Wake makes Run look for due events now instead of at the next poll; call
// it after queueing an event. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// lease is how long a claim holds: enough to try the whole batch, each
// attempt bounded by Timeout, with room to record the results.
func (s *Sender) lease() time.Duration {
	if s.opts.Lease > 0 {
		return s.opts.Lease
	}
	return time.Duration(s.opts.Batch+1)*s.opts.Timeout + 10*time.Second
}

// Run delivers events until ctx is done, then returns nil. It looks for due
// events at start, on Wake, when a retry it scheduled falls due, and every
// Poll (for events other processes queued or failed). An attempt
// already under way when ctx ends is finished (bounded by Timeout) and
// recorded; events claimed but not yet tried are handed back at once.
// Outbox errors are logged and retried at the next poll.
func (s *Sender) Run(ctx context.Context) error {
	s.log.Info("付款通知发送器已启动 / paid notification sender started",
		"target", s.opts.Target.String(), "kind", string(s.opts.Target.Kind()), "owner", s.opts.Owner)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		full := false
		if ctx.Err() == nil {
			if !s.due.After(s.now()) {
				s.due = time.Time{} // this claim takes what is due by now
			}
			evs, err := s.outbox.Claim(ctx, s.opts.Owner, s.opts.Batch, s.lease())
			if err != nil && ctx.Err() == nil {
				s.log.Warn("读取付款通知队列失败 / reading the paid notification outbox failed", "err", s.opts.Target.scrub(err.Error()))
			}
			for i, ev := range evs {
				if ctx.Err() != nil {
					s.release(evs[i:])
					break
				}
				s.deliver(ctx, ev)
			}
			full = len(evs) == s.opts.Batch
		}
		if ctx.Err() != nil {
			s.log.Info("付款通知发送器已停止 / paid notification sender stopped", "owner", s.opts.Owner)
			return nil
		}
		if full {
			continue // more may be due: no wait
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		wait := s.opts.Poll
		if !s.due.IsZero() {
			wait = min(wait, max(s.due.Sub(s.now()), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// record bounds the outbox writes that follow an attempt; they run even
// when Run's context has ended, so a finished attempt is not lost.
const recordTimeout = 5 * time.Second

// deliver makes one attempt at ev and records its outcome.
func (s *Sender) deliver(ctx context.Context, ev Event) {
	attempt := ev.Attempts + 1
	started := s.now()
	retryAfter, err := s.attempt(ctx, ev, attempt)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	t := s.opts.Target
	if s.opts.Count != nil {
		if err == nil {
			s.opts.Count("delivered")
		} else {
			s.opts.Count("failed")
		}
	}
	if err == nil {
		if rerr := s.outbox.Delivered(rctx, ev.ID); rerr != nil {
			// Delivered but not recorded: the lease expires and the event
			// is sent again, which at-least-once allows.
			s.log.Warn("付款通知已送达但未能记录, 将重发 / paid notification delivered but not recorded; it will be sent again",
				"event_id", ev.ID, "out_trade_no", ev.OutTradeNo, "err", t.scrub(rerr.Error()))
			return
		}
		s.log.Info("付款通知已送达 / paid notification delivered",
			"event_id", ev.ID, "out_trade_no", ev.OutTradeNo, "attempt", attempt,
			"target", t.String(), "ms", s.now().Sub(started).Milliseconds())
		return
	}
	msg := t.scrub(err.Error())
	next := s.now().Add(s.backoff(attempt, retryAfter))
	if s.due.IsZero() || next.Before(s.due) {
		s.due = next
	}
	if rerr := s.outbox.Failed(rctx, ev.ID, attempt, next, msg); rerr != nil {
		s.log.Warn("未能记录付款通知失败 / could not record the failed paid notification",
			"event_id", ev.ID, "err", t.scrub(rerr.Error()))
	}
	s.log.Warn("付款通知发送失败, 稍后重试 / paid notification failed; will retry",
		"event_id", ev.ID, "out_trade_no", ev.OutTradeNo, "attempt", attempt,
		"target", t.String(), "err", msg, "next_attempt", next.Format(time.RFC3339))
}

// attempt POSTs ev once. It is bounded by Timeout and, once started, is
// not cut short by ctx ending (graceful stop). retryAfter is the
// receiver's Retry-After, when it sent one with a 429 or 503.
func (s *Sender) attempt(ctx context.Context, ev Event, attempt int) (retryAfter time.Duration, err error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Timeout)
	defer cancel()
	t := s.opts.Target
	req, err := t.request(actx, ev, attempt, s.now())
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, token and DingTalk sign included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("接收方 %s 内未回答 / the receiver did not answer within %s", s.opts.Timeout, s.opts.Timeout)
		}
		return 0, fmt.Errorf("发送失败 / sending failed: %s", t.scrub(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if sec, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && sec > 0 {
			retryAfter = time.Duration(sec) * time.Second
		}
	}
	return retryAfter, t.check(resp)
}

// backoff is the wait before attempt+1: MinBackoff doubled per failed
// attempt, capped at MaxBackoff, with jitter over its upper half so that
// many events failing together do not retry together. A receiver's
// Retry-After, capped at MaxBackoff, is respected when longer.
func (s *Sender) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := s.opts.MaxBackoff
	if attempt-1 < 40 {
		if e := s.opts.MinBackoff << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
	if retryAfter > d {
		d = min(retryAfter, s.opts.MaxBackoff)
	}
	return d
}

// release hands back events claimed but not tried, at once, without
// counting an attempt.
func (s *Sender) release(evs []Event) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	for _, ev := range evs {
		if err := s.outbox.Failed(ctx, ev.ID, ev.Attempts, s.now(), "未尝试: 发送器已停止 / not tried: the sender stopped"); err != nil {
			s.log.Warn("未能交还付款通知 / could not hand back a paid notification", "event_id", ev.ID, "err", s.opts.Target.scrub(err.Error()))
		}
	}
}
