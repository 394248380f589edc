// Package heapfloor keeps Go's garbage collector from running every few
// MiB of allocation while the live heap is small, by raising GOGC while the
// live heap is below a floor and lowering it back as the heap grows.
package heapfloor
