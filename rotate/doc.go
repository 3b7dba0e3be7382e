// Package rotate changes passwords so that none is ever unknown: for each
// account it keeps what restores the old one (the shadow hash, the
// PostgreSQL verifier), makes a new random password, hands it to the
// Vault as pending (sealed, in the ledger) BEFORE setting it, sets it,
// verifies it, and then commits it in the Vault (current → previous,
// pending → current). If setting or verifying fails it restores the old
// one and aborts the pending one; a failure is returned (the job ends
// abnormally: a fault).
//
// Accounts:
//   - Local (chpasswd -c SHA512; verified against /etc/shadow by
//     re-hashing with openssl passwd -6 and the stored salt; restored with
//     chpasswd -e and the old hash). The new password goes to the tools
//     on standard input, never in an argument.
//   - Postgres (ALTER ROLE … PASSWORD with a SCRAM-SHA-256 verifier made
//     here, so the clear password never reaches the server's statement
//     log; verified by logging in as the role; restored with the old
//     verifier from pg_authid).
//
// Where it runs: on a node (node/drill.go, its Vault the ledger sealed
// with the cluster key) or on a remote agent (AgentJob, AgentExec): there
// the Vault is a RemoteVault, which seals each password to the cluster's
// curve key (ClusterCurveKey, SealFor; the public key comes in the signed
// task) and has a node store it pending over NATS
// (bus.AgentVaultSubject) before the password is set. A commit a remote
// vault cannot confirm (ErrCommitUnconfirmed) leaves the new password set:
// the ledger has it, pending or current.
package rotate
