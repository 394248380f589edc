// Package config turns the AP_* environment variables into a validated
// Config, reporting one clear line per bad variable.
package config
