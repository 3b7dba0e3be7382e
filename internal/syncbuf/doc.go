// Package syncbuf is a byte buffer that several goroutines may write at
// once (a child process's stdout and stderr, a logger's handlers) while
// another reads it, for tests that watch a process's or a logger's output.
package syncbuf
