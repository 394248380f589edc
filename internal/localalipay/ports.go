package localalipay

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Links carry the address of the process that made them. So that a link
// stays payable while any local Alipay on its data directory runs, every
// server records its loopback port in the data directory (ports/<port>),
// and every server keeps trying to listen on the recorded ports it does not
// hold: when the process that made a link exits, another one on the same
// data directory takes its port over within PortPoll and serves the link
// from the shared keys and database.

// portsDir holds one empty file per port that links of this data directory
// have been made with; its modification time is when it was last held.
const portsDir = "ports"

// portLife is how long a port is kept after it was last held: a page or
// wap link may be opened up to 24 h after it was signed, and a desktop
// cashier's QR code (the mobile cashier) is good while its trade is open,
// 15 days by default.
const portLife = 16 * 24 * time.Hour

// maxPorts bounds how many recorded ports a server takes over (the most
// recently held first).
const maxPorts = 32

// DefaultPortPoll is how often a server looks for ports to take over.
const DefaultPortPoll = 500 * time.Millisecond

// portSet is what a server listens on besides its own address.
type portSet struct {
	mu   sync.Mutex
	held map[int]net.Listener
	wg   sync.WaitGroup // the Serve goroutines of taken-over ports
}

// recordPort notes in the data directory that links may carry port.
func (s *Server) recordPort(port int) {
	dir := filepath.Join(s.opts.DataDir, portsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Warn("本地支付宝: 记录端口失败 / local alipay: record port", "err", err)
		return
	}
	path := filepath.Join(dir, strconv.Itoa(port))
	now := time.Now()
	if err := os.Chtimes(path, now, now); errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			s.log.Warn("本地支付宝: 记录端口失败 / local alipay: record port", "err", err)
			return
		}
		f.Close()
	}
}

// recordedPorts are the ports of this data directory held within portLife,
// most recent first; older records are removed.
func (s *Server) recordedPorts() []int {
	dir := filepath.Join(s.opts.DataDir, portsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type rec struct {
		port int
		at   time.Time
	}
	var recs []rec
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p <= 0 || p > 65535 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if time.Since(info.ModTime()) > portLife {
			os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		recs = append(recs, rec{p, info.ModTime()})
	}
	slices.SortFunc(recs, func(a, b rec) int { return b.at.Compare(a.at) })
	out := make([]int, 0, len(recs))
	for i, r := range recs {
		if i == maxPorts {
			break
		}
		out = append(out, r.port)
	}
	return out
}

// isOwnPort says whether links with this port belong to this server's data
// directory: its own port, one it took over, or a recorded one.
func (s *Server) isOwnPort(port int) bool {
	if strconv.Itoa(port) == s.port() {
		return true
	}
	return slices.Contains(s.recordedPorts(), port)
}

// takeOverPorts runs until ctx ends: it listens on every recorded port that
// nobody holds, and keeps the records of held ports fresh.
func (s *Server) takeOverPorts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	touched := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		own, _ := strconv.Atoi(s.port())
		for _, p := range s.recordedPorts() {
			s.ports.mu.Lock()
			_, held := s.ports.held[p]
			s.ports.mu.Unlock()
			if held || p == own {
				continue
			}
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				continue // held by a live process (or by another program)
			}
			if !s.servePort(p, ln) {
				return
			}
			s.log.Info("本地支付宝: 接管已退出进程的端口 / local alipay: took over the port of a process that exited", "port", p)
			s.recordPort(p)
		}
		if time.Since(touched) > time.Hour {
			touched = time.Now()
			s.recordPort(own)
			s.ports.mu.Lock()
			held := make([]int, 0, len(s.ports.held))
			for p := range s.ports.held {
				held = append(held, p)
			}
			s.ports.mu.Unlock()
			for _, p := range held {
				s.recordPort(p)
			}
		}
	}
}

// servePort serves ln with the server's handler; false when the server is
// closing (ln is closed then).
func (s *Server) servePort(p int, ln net.Listener) bool {
	s.ports.mu.Lock()
	defer s.ports.mu.Unlock()
	if s.ports.held == nil { // closed
		ln.Close()
		return false
	}
	s.ports.held[p] = ln
	s.ports.wg.Add(1)
	go func() {
		defer s.ports.wg.Done()
		s.http.Serve(ln) // ends with Shutdown or Close
	}()
	return true
}

// closePorts stops taking ports over; Shutdown has closed the listeners.
func (s *Server) closePorts() {
	s.ports.mu.Lock()
	for _, ln := range s.ports.held {
		ln.Close()
	}
	s.ports.held = nil
	s.ports.mu.Unlock()
	s.ports.wg.Wait()
}
