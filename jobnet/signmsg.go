package jobnet

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
)

// Signed messages other than tasks (the fleet's directives to agents).
// They travel in the same envelope as tasks, but the signature covers
// msgContext + kind + NUL + payload, so a signed message of one kind can
// never be taken for a task or for a message of another kind.
const msgContext = "unyo-msg-v1\x00"

// ErrMessage is returned for a signed message that does not verify.
var ErrMessage = errors.New("jobnet: signed message")

// SignMessage signs payload as a message of kind (e.g. "directive").
// Validity (expiry, addressee) is the payload's business.
func (s *Signer) SignMessage(kind string, payload []byte) ([]byte, error) {
	sig := ed25519.Sign(s.key, msgBytes(kind, payload))
	return json.Marshal(taskEnvelope{Payload: payload, KeyID: s.id, Sig: sig})
}

// OpenMessage verifies a message of kind signed by a trusted key and
// returns its payload and the signing key's id.
func (v *Verifier) OpenMessage(kind string, data []byte) ([]byte, string, error) {
	if len(data) > maxTaskBytes {
		return nil, "", fmt.Errorf("%w: %d bytes, more than %d", ErrMessage, len(data), maxTaskBytes)
	}
	var env taskEnvelope
	if err := json.Unmarshal(data, &env); err != nil || len(env.Payload) == 0 {
		return nil, "", fmt.Errorf("%w: not a signed message", ErrMessage)
	}
	key, ok := v.keys[env.KeyID]
	if !ok {
		return nil, env.KeyID, fmt.Errorf("%w: key %q is not trusted", ErrMessage, env.KeyID)
	}
	if !ed25519.Verify(key, msgBytes(kind, env.Payload), env.Sig) {
		return nil, env.KeyID, fmt.Errorf("%w: signature by key %s does not verify", ErrMessage, env.KeyID)
	}
	return env.Payload, env.KeyID, nil
}

func msgBytes(kind string, payload []byte) []byte {
	b := make([]byte, 0, len(msgContext)+len(kind)+1+len(payload))
	b = append(b, msgContext...)
	b = append(b, kind...)
	b = append(b, 0)
	return append(b, payload...)
}
