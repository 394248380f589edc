package alipay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// RSA signatures run on signers: one goroutine per processor, started with
// the first signature and kept for the life of the process. RSA's
// arithmetic needs a deeper stack than a new goroutine starts with, and the
// MCP SDK starts a goroutine for every request: signing on it grew and
// copied that stack on nearly every call, about 2% of the HTTP server's CPU
// under load (BenchmarkHTTPCreateWebPage; in a CPU profile, runtime.newstack
// under crypto/internal/fips140/bigmod). A signer keeps its grown stack
// while it is busy (the collector may shrink an idle one, which then grows
// again once). With one signer per processor, signatures beyond the
// processors wait their turn in order instead of slicing the same cores;
// when GOMAXPROCS grows (Go follows a container's CPU limit), more signers
// start.
var (
	signersMu   sync.Mutex
	signers     atomic.Int32 // signers started
	signJobs    = make(chan *signJob)
	signJobPool = sync.Pool{New: func() any { return &signJob{done: make(chan struct{}, 1)} }}
)

type signJob struct {
	key  *rsa.PrivateKey
	hash crypto.Hash
	sum  []byte
	sig  []byte
	err  error
	done chan struct{}
}

// signPKCS1v15 is rsa.SignPKCS1v15, run on a signer.
func signPKCS1v15(key *rsa.PrivateKey, hash crypto.Hash, sum []byte) ([]byte, error) {
	if n := int32(runtime.GOMAXPROCS(0)); signers.Load() < n {
		startSigners(n)
	}
	j := signJobPool.Get().(*signJob)
	j.key, j.hash, j.sum = key, hash, sum
	signJobs <- j
	<-j.done
	sig, err := j.sig, j.err
	*j = signJob{done: j.done}
	signJobPool.Put(j)
	return sig, err
}

// startSigners starts signers until there are n.
func startSigners(n int32) {
	signersMu.Lock()
	defer signersMu.Unlock()
	for ; signers.Load() < n; signers.Add(1) {
		go func() {
			for j := range signJobs {
				j.sig, j.err = signOne(j)
				j.done <- struct{}{}
			}
		}()
	}
}

// signOne signs one job; a panic (a malformed key) is the job's error, as it
// would have been its caller's, and the signer carries on.
func signOne(j *signJob) (sig []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("签名失败 / signing failed: %v", p)
		}
	}()
	return rsa.SignPKCS1v15(rand.Reader, j.key, j.hash, j.sum)
}
