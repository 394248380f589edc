package httpserve

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
)

// SessionIDs makes the Mcp-Session-Id of new stateful sessions: 128 random
// bits, prefixed with "<replica>." when the replica has a name
// (AP_HTTP_REPLICA), so that a proxy in front of several replicas can send
// each session's requests to the replica that holds it (docs/deploy.md).
// Pass it as tools.Options.GetSessionID.
func SessionIDs(replica string) func() string {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return func() string {
		var b [16]byte
		rand.Read(b[:])
		if replica == "" {
			return enc.EncodeToString(b[:])
		}
		return replica + "." + enc.EncodeToString(b[:])
	}
}

// checkReplica accepts 1-32 lower-case letters, digits and '-'.
func checkReplica(s string) error {
	ok := s != "" && len(s) <= 32
	for _, r := range s {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}
	if !ok {
		return fmt.Errorf("AP_HTTP_REPLICA %q: 1-32 个小写字母、数字或 - / want 1-32 lower-case letters, digits or -", s)
	}
	return nil
}
