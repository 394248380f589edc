package rpcid

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/jsonobj"
)

// CodeInvalidRequest is JSON-RPC's "Invalid Request".
const CodeInvalidRequest = -32600

// maxSafe is 2^53: every integer of at most this magnitude survives float64.
const maxSafe = 1 << 53

// Mapper holds the substitutes of requests not yet answered. It is safe for
// concurrent use; one Mapper may serve many connections, since substitutes
// are unique.
type Mapper struct {
	prefix string // `"rpcid-<random>-`: the start of every substitute, quote included

	mu      sync.Mutex
	next    uint64
	pending map[string]pendingID // substitute (JSON text) → the id as sent
	// byRaw finds a request's substitute for its cancellation, by the id
	// as sent within its scope (an HTTP session): two sessions may use the
	// same id at once, and neither may cancel or unmap the other's request.
	byRaw map[string]string
}

// pendingID is a request awaiting its answer: its id as sent, and its key
// in byRaw (scope and id).
type pendingID struct {
	raw json.RawMessage
	key string
}

// scopedKey is the byRaw key of id within scope.
func scopedKey(scope string, id []byte) string { return scope + "\x00" + string(id) }

// NewMapper returns a Mapper whose substitutes carry a random prefix, so
// that no client can guess or collide with them.
func NewMapper() *Mapper {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("rpcid: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return &Mapper{
		prefix:  `"rpcid-` + hex.EncodeToString(b[:]) + `-`,
		pending: map[string]pendingID{},
		byRaw:   map[string]string{},
	}
}

// Pending is the number of substitutes awaiting their answer.
func (m *Mapper) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Inbound takes one incoming JSON-RPC message or batch. It returns the
// message to hand to the SDK (msg itself when nothing needs changing), or,
// when the message must be refused, nil and the answer to send back instead.
// Input that is not a JSON object or array is returned unchanged: the SDK
// reports it as it always has.
func (m *Mapper) Inbound(msg []byte) (forward, refusal []byte) {
	return m.InboundScoped("", msg)
}

// jsonSpace is the white space JSON allows around a value. bytes.TrimSpace
// would also take \v, \f, U+0085 and U+00A0, and hand the SDK a message
// it would have refused as sent.
const jsonSpace = " \t\r\n"

// InboundScoped is Inbound for a message of one scope, such as an HTTP
// session: a cancellation finds only the requests of its own scope.
func (m *Mapper) InboundScoped(scope string, msg []byte) (forward, refusal []byte) {
	trimmed := bytes.Trim(msg, jsonSpace)
	switch {
	case len(trimmed) == 0:
		return msg, nil
	case trimmed[0] == '{': // checked as JSON by objectFields
		out, bad, _, err := m.inboundOne(scope, trimmed)
		if err != nil {
			return msg, nil
		}
		if bad != nil {
			return nil, bad
		}
		if out == nil {
			return msg, nil
		}
		return out, nil
	case trimmed[0] == '[': // checked as JSON by arrayElems
		return m.inboundBatch(scope, msg, trimmed)
	}
	return msg, nil
}

// inboundBatch handles an array of messages: substitutes where needed; if
// any element must be refused, the whole batch is refused (one error per
// request in it), so that the client gets a single answer array.
func (m *Mapper) inboundBatch(scope string, msg, arr []byte) (forward, refusal []byte) {
	elems, err := arrayElems(arr)
	if err != nil {
		return msg, nil
	}
	var out bytes.Buffer
	var refusals []json.RawMessage
	var subs []string
	changed := false
	out.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			out.WriteByte(',')
		}
		el := arr[e.start:e.end]
		rw, bad, sub, err := m.inboundOne(scope, el)
		if sub != "" {
			subs = append(subs, sub)
		}
		switch {
		case err != nil:
			out.Write(el)
		case bad != nil:
			refusals = append(refusals, bad)
		case rw != nil:
			changed = true
			out.Write(rw)
		default:
			out.Write(el)
		}
	}
	out.WriteByte(']')
	if refusals != nil {
		// Forget the substitutes made for the other elements: nothing of
		// this batch reaches the SDK.
		m.forget(subs)
		for _, e := range elems {
			el := arr[e.start:e.end]
			if id, ok := requestID(el); ok && classify(id) != refuse {
				refusals = append(refusals, invalidRequest(id, "同一批次中有无效的请求 id / another request id in this batch is invalid"))
			}
		}
		b, _ := json.Marshal(refusals)
		return nil, b
	}
	if !changed {
		return msg, nil
	}
	return out.Bytes(), nil
}

// forget drops substitutes that will never be answered.
func (m *Mapper) forget(subs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, sub := range subs {
		m.drop(sub)
	}
}

// inboundOne handles one message object. out is nil when it passes as is.
func (m *Mapper) inboundOne(scope string, obj []byte) (out, refusal []byte, sub string, err error) {
	fields, err := objectFields(obj)
	if err != nil {
		return nil, nil, "", err
	}
	idf, hasID := fields["id"]
	methodf, hasMethod := fields["method"]
	if !hasMethod {
		return nil, nil, "", nil // a response (to a request of the server): its ids are the SDK's own
	}
	if hasID {
		if idf.dup {
			return nil, invalidRequest(json.RawMessage("null"), "请求含有多个 id / the request has more than one id"), "", nil
		}
		id := obj[idf.start:idf.end]
		switch classify(id) {
		case pass:
		case refuse:
			return nil, invalidRequest(id, "请求 id 必须是字符串或 -9223372036854775808 至 9223372036854775807 之间的整数 (不能有小数或指数) / "+
				"the request id must be a string or an integer from -9223372036854775808 to 9223372036854775807 (no fraction, no exponent)"), "", nil
		case substitute:
			sub := m.add(scope, id)
			return splice(obj, idf.start, idf.end, []byte(sub)), nil, sub, nil
		}
		return nil, nil, "", nil
	}
	// A notification. A cancellation names a request by its id: follow the
	// substitute.
	var method string
	if json.Unmarshal(obj[methodf.start:methodf.end], &method) != nil || method != "notifications/cancelled" {
		return nil, nil, "", nil
	}
	pf, ok := fields["params"]
	if !ok {
		return nil, nil, "", nil
	}
	params := obj[pf.start:pf.end]
	pfields, err := objectFields(params)
	if err != nil {
		return nil, nil, "", nil
	}
	rf, ok := pfields["requestId"]
	if !ok {
		return nil, nil, "", nil
	}
	m.mu.Lock()
	cancelled, ok := m.byRaw[scopedKey(scope, params[rf.start:rf.end])]
	m.mu.Unlock()
	if !ok {
		return nil, nil, "", nil
	}
	newParams := splice(params, rf.start, rf.end, []byte(cancelled))
	return splice(obj, pf.start, pf.end, newParams), nil, "", nil
}

func (m *Mapper) add(scope string, id []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	sub := m.prefix + strconv.FormatUint(m.next, 10) + `"`
	key := scopedKey(scope, id)
	m.pending[sub] = pendingID{raw: json.RawMessage(bytes.Clone(id)), key: key}
	m.byRaw[key] = sub
	return sub
}

// drop forgets sub; its byRaw entry goes only while it still names sub (a
// later request of the same scope may have reused the id). m.mu is held.
func (m *Mapper) drop(sub string) {
	p, ok := m.pending[sub]
	if !ok {
		return
	}
	if m.byRaw[p.key] == sub {
		delete(m.byRaw, p.key)
	}
	delete(m.pending, sub)
}

// Outbound takes one outgoing message or batch and puts back the ids the
// substitutes stand for. Anything else passes unchanged.
func (m *Mapper) Outbound(msg []byte) []byte {
	if !bytes.Contains(msg, []byte(m.prefix)) {
		return msg
	}
	trimmed := bytes.Trim(msg, jsonSpace)
	if len(trimmed) == 0 {
		return msg
	}
	if trimmed[0] == '{' {
		if out := m.outboundOne(trimmed); out != nil {
			return out
		}
		return msg
	}
	elems, err := arrayElems(trimmed)
	if err != nil {
		return msg
	}
	var out bytes.Buffer
	out.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			out.WriteByte(',')
		}
		el := trimmed[e.start:e.end]
		if rw := m.outboundOne(el); rw != nil {
			el = rw
		}
		out.Write(el)
	}
	out.WriteByte(']')
	return out.Bytes()
}

// outboundOne maps the id of one response back; nil when it has none of ours.
func (m *Mapper) outboundOne(obj []byte) []byte {
	fields, err := objectFields(obj)
	if err != nil {
		return nil
	}
	idf, ok := fields["id"]
	if !ok {
		return nil
	}
	if _, isRequest := fields["method"]; isRequest {
		return nil // a request of the server: its id is the SDK's own
	}
	sub := string(obj[idf.start:idf.end])
	m.mu.Lock()
	p, ok := m.pending[sub]
	if ok {
		m.drop(sub)
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return splice(obj, idf.start, idf.end, p.raw)
}

// verdict is what becomes of a request id.
type verdict int

const (
	pass       verdict = iota // the SDK keeps it exactly
	substitute                // a valid id the SDK would change
	refuse                    // not a valid id
)

// classify judges a request id as written.
func classify(id []byte) verdict {
	switch id[0] {
	case '"', 'n': // string, null (a notification to the SDK)
		return pass
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		return refuse // true, false, object, array
	}
	s := string(id)
	if bytes.ContainsAny(id, ".eE") {
		return refuse
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return refuse // outside int64
	}
	if strconv.FormatInt(n, 10) == s && n >= -maxSafe && n <= maxSafe {
		return pass
	}
	return substitute // beyond 2^53, or spelled differently ("-0")
}

// requestID is the id of a request object, if it has one.
func requestID(obj []byte) ([]byte, bool) {
	fields, err := objectFields(obj)
	if err != nil {
		return nil, false
	}
	idf, ok := fields["id"]
	if _, hasMethod := fields["method"]; !ok || !hasMethod {
		return nil, false
	}
	return obj[idf.start:idf.end], true
}

// invalidRequest is the -32600 answer under id.
func invalidRequest(id []byte, msg string) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: json.RawMessage(id), Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{CodeInvalidRequest, "无效的请求 / Invalid Request: " + msg}})
	return b
}

// span is a value's position inside its enclosing text.
type span struct {
	start, end int
	dup        bool // the key occurs more than once
}

// objectFields finds the top-level keys of a JSON object and where their
// values are.
func objectFields(obj []byte) (map[string]span, error) {
	members, err := jsonobj.Members(obj)
	if err != nil {
		return nil, err
	}
	fields := make(map[string]span, len(members))
	for _, m := range members {
		sp := span{start: m.Start, end: m.End}
		if _, seen := fields[m.Key]; seen {
			sp.dup = true
		}
		fields[m.Key] = sp
	}
	return fields, nil
}

// arrayElems finds the elements of a JSON array.
func arrayElems(arr []byte) ([]span, error) {
	elems, err := jsonobj.Elements(arr)
	if err != nil {
		return nil, err
	}
	out := make([]span, len(elems))
	for i, e := range elems {
		out[i] = span{start: e.Start, end: e.End}
	}
	return out, nil
}

func splice(b []byte, start, end int, repl []byte) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(repl))
	out = append(out, b[:start]...)
	out = append(out, repl...)
	return append(out, b[end:]...)
}
