// Package paywatch watches Alipay orders by querying them with backoff until
// each is paid, closed or no longer worth watching, and reports every change.
package paywatch
