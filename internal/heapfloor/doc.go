// Package heapfloor keeps Go's garbage collector from running many times a
// second in a busy process with a small live heap: it raises GOGC so that
// collections come at most about once an interval while the live heap is
// small, and leaves GOGC at 100 when the process is idle or its heap large.
package heapfloor
