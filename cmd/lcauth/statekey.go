package main

import (
	"encoding/base64"
	"fmt"
	"path/filepath"

	"lcauth/internal/config"
)

// stateKeyFile is the generated OAuth state key's file under the state folder.
const stateKeyFile = "state.key"

// stateKey uses LCAUTH_STATE_KEY (or LCAUTH_STATE_KEY_ARN) when set; otherwise the key kept in
// stateDir, generated on first use (like the sealing key), so installs started before a restart still
// complete after it.
func (d *devRun) stateKey(stateDir string) error {
	if d.getenv(config.EnvStateKey) != "" || d.getenv(config.EnvStateKeyARN) != "" {
		return nil
	}
	key, _, err := loadOrCreateKey(filepath.Join(stateDir, stateKeyFile))
	if err != nil {
		return fmt.Errorf("state key (%s): %w", stateKeyFile, err)
	}
	d.env[config.EnvStateKey] = base64.StdEncoding.EncodeToString(key)
	return nil
}
