// Package backup will hold backup and restore jobs with generations, a
// catalog and verification.
package backup
