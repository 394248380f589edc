// Package nginxtest runs Debian's nginx on loopback in front of several
// replicas of the HTTP service, with the configuration docs/deploy.md
// gives (round robin, sessions routed to their replica), for tests.
package nginxtest
