package command

import (
	"errors"
	"fmt"
	"time"
)

// Config is the program to run.
type Config struct {
	Path    string
	Args    []string
	Timeout time.Duration
}

// Validate reports the first problem, naming the field.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("path: required")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout %s: want more than 0", c.Timeout)
	}
	return nil
}
