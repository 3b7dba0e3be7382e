// Package cdc cuts release binaries into content-defined chunks (a gear
// rolling hash, FastCDC-style: cut points depend on the bytes around
// them, not on offsets, so an insertion moves only the chunks it touches)
// and encodes their list, the manifest, that a node sends an agent for a
// differential update: the agent keeps the chunks its own binary already
// has and fetches only the others.
//
// Manifest (binary, big-endian): "UNYOCDC1", the file's size (uint64) and
// SHA-256 (32 bytes), the chunk count (uint32), then per chunk its length
// (uint32) and SHA-256 (32 bytes); the chunks are consecutive from offset
// 0 and their lengths add up to the size. Decode checks all of it.
package cdc
