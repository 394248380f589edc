// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb and
// postgres from Debian's postgresql package, on a temporary socket directory
// and a free loopback port, gone when the tests end.
package pgtest
