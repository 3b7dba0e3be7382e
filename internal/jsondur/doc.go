// Package jsondur is a time.Duration that JSON shows as a person writes
// it ("10m0s", "1.5s") instead of a count of nanoseconds, and reads in
// either form, so that an answer from an older node still decodes.
package jsondur
