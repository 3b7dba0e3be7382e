// Package secretbox encrypts the literal secrets of the configuration the
// cluster replicates through Raft, so that no Raft log segment or snapshot
// holds one in clear.
//
// The cluster secret key is 32 random bytes in a file, by convention
// <cluster data dir>/secret.key (mode 0600): [LoadOrCreateKey] makes it on
// the node that bootstraps the cluster, the join hands the same bytes to
// every member, and [LoadKey] reads it. [Seal] turns a value into
// "enc:v1:<base64url>" (AES-256-GCM, a random 96-bit nonce, the nonce
// first); [Open] reverses it and fails on a wrong key or an edited value.
package secretbox
