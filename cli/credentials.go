package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/unyo-ops/unyo/auth"
)

// The CLI finds the token for a node, first found wins:
//
//  1. $UNYO_TOKEN
//  2. the file named by $UNYO_TOKEN_FILE (e.g. a node's data/…/admin.token)
//  3. the credentials file written by `unyo login`: $UNYO_CREDENTIALS, or
//     $XDG_CONFIG_HOME/unyo/credentials.json, or ~/.config/unyo/credentials.json
//     (mode 0600; one token per server URL)
//
// A token is never taken from a command-line flag: it would show in ps
// and in the shell's history.

// credentials is the file `unyo login` writes.
type credentials struct {
	Servers map[string]credential `json:"servers"`
}

type credential struct {
	Token string `json:"token"`
	User  string `json:"user,omitempty"`
}

func credentialsPath(env *Env) (string, error) {
	if p := env.Getenv("UNYO_CREDENTIALS"); p != "" {
		return p, nil
	}
	if d := env.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "unyo", "credentials.json"), nil
	}
	if h := env.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "unyo", "credentials.json"), nil
	}
	return "", errors.New("no credentials file: set UNYO_CREDENTIALS or HOME")
}

func serverKey(server string) string { return strings.TrimRight(server, "/") }

func readCredentials(env *Env) (credentials, string, error) {
	c := credentials{Servers: map[string]credential{}}
	p, err := credentialsPath(env)
	if err != nil {
		return c, "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, p, nil
	}
	if err != nil {
		return c, p, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, p, fmt.Errorf("%s: %w", p, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]credential{}
	}
	return c, p, nil
}

func writeCredentials(path string, c credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return auth.WriteSecretFile(path, string(b)+"\n")
}

// findToken returns the token for server ("" if the CLI has none).
func findToken(env *Env, server string) (string, error) {
	if t := strings.TrimSpace(env.Getenv("UNYO_TOKEN")); t != "" {
		return t, nil
	}
	if f := env.Getenv("UNYO_TOKEN_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("UNYO_TOKEN_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	c, p, err := readCredentials(env)
	if err != nil {
		if p == "" {
			return "", nil
		}
		return "", err
	}
	return c.Servers[serverKey(server)].Token, nil
}
