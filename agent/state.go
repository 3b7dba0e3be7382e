package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nkeys"
)

// State is what the agent keeps in its state directory (state.json, mode
// 0600), besides its secrets: nkey.seed and sign.key (0600) and
// trust.pem.
type State struct {
	Name      string        `json:"name"`
	Group     string        `json:"group"`
	Kind      string        `json:"kind"`
	Server    string        `json:"server"` // the URL it enrolled with
	Home      string        `json:"home"`
	NATS      string        `json:"nats"`
	Heartbeat time.Duration `json:"heartbeat"`
	Inventory time.Duration `json:"inventory"`
	Enrolled  time.Time     `json:"enrolled"`
	// Tags are the agent's tags (run_on.tag), as the node last said.
	Tags []string `json:"tags,omitempty"`
}

// Files of the state directory.
const (
	stateFile = "state.json"
	seedFile  = "nkey.seed"
	keyFile   = "sign.key"
	trustFile = "trust.pem"
)

// ErrNotEnrolled: the state directory holds no enrolment.
var ErrNotEnrolled = errors.New("agent: not enrolled (run unyo agent enroll first)")

func writeSecret(dir, name string, data []byte) error {
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func readSecret(dir, name string) ([]byte, error) {
	p := filepath.Join(dir, name)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o: readable by others, want 0600", p, fi.Mode().Perm())
	}
	return os.ReadFile(p)
}

// LoadState reads the enrolment in dir.
func LoadState(dir string) (State, error) {
	var st State
	b, err := readSecret(dir, stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, ErrNotEnrolled
	} else if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

func saveState(dir string, st State) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeSecret(dir, stateFile, b)
}

// keys makes (or reads) the agent's NKey and ed25519 key.
func keys(dir string) (nkeys.KeyPair, ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	seed, err := readSecret(dir, seedFile)
	var kp nkeys.KeyPair
	switch {
	case errors.Is(err, os.ErrNotExist):
		if kp, err = nkeys.CreateUser(); err != nil {
			return nil, nil, err
		}
		s, _ := kp.Seed()
		if err := writeSecret(dir, seedFile, append(s, '\n')); err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	default:
		if kp, err = nkeys.ParseDecoratedNKey(seed); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", seedFile, err)
		}
	}
	raw, err := readSecret(dir, keyFile)
	var key ed25519.PrivateKey
	switch {
	case errors.Is(err, os.ErrNotExist):
		_, key, err = ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		if err := writeSecret(dir, keyFile, []byte(hex.EncodeToString(key.Seed())+"\n")); err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	default:
		s, err := hex.DecodeString(string(trimNL(raw)))
		if err != nil || len(s) != ed25519.SeedSize {
			return nil, nil, fmt.Errorf("%s: not a hex ed25519 seed", keyFile)
		}
		key = ed25519.NewKeyFromSeed(s)
	}
	return kp, key, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
