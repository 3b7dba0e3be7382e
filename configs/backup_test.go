package configs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupS3Destination: an s3 destination loads with its defaults
// (tls true; ca_file relative to the file) and its secret key from the
// environment.
func TestBackupS3Destination(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := `backup:
  destinations:
    - name: offsite
      s3:
        endpoint: s3.example.net:443
        bucket: unyo-backups
        prefix: site-a/
        region: eu-central-1
        access_key: AKIAEXAMPLE
        secret_key: ${env:UNYO_TEST_S3_SECRET}
        ca_file: ca.pem
    - name: lan
      s3: {endpoint: "10.0.0.5:9000", bucket: backups, tls: false}
  sources:
    - name: etc
      kind: dir
      paths: [/etc/unyo]
      destination: offsite
`
	name := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(name, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ParseWith(name, []byte(yml), ParseOptions{LookupEnv: func(k string) (string, bool) {
		return "s3-secret-from-env", k == "UNYO_TEST_S3_SECRET"
	}})
	if err != nil {
		t.Fatal(err)
	}
	s3 := c.Backup.Destinations[0].S3
	if s3 == nil || s3.Endpoint != "s3.example.net:443" || s3.Bucket != "unyo-backups" || s3.Prefix != "site-a/" ||
		s3.Region != "eu-central-1" || s3.AccessKey != "AKIAEXAMPLE" || string(s3.SecretKey) != "s3-secret-from-env" ||
		!s3.UseTLS() || s3.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("offsite: %+v", s3)
	}
	if lan := c.Backup.Destinations[1].S3; lan == nil || lan.UseTLS() || lan.AccessKey != "" || lan.SecretKey != "" {
		t.Errorf("lan: %+v", lan)
	}
	if c.Backup.Destinations[0].Dir != "" {
		t.Errorf("dir %q", c.Backup.Destinations[0].Dir)
	}
}

// TestBackupS3SecretNeverPrints: the secret key is in no print of the
// configuration (String, JSON, %v of the section) nor in an error.
func TestBackupS3SecretNeverPrints(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
	yml := "backup:\n  destinations:\n    - name: offsite\n      s3:\n        endpoint: s3.example.net:443\n        bucket: unyo-backups\n" +
		"        access_key: AKIAEXAMPLE\n        secret_key: " + secret + "\n"
	c, err := Parse("s.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Backup.Destinations[0].S3.SecretKey) != secret {
		t.Fatalf("the secret itself was lost: %q", string(c.Backup.Destinations[0].S3.SecretKey))
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Backup.Destinations[0]
	outputs := map[string]string{
		"String": c.String(),
		"json":   string(j),
		"%v":     fmt.Sprintf("%v", *d.S3),
		"%+v":    fmt.Sprintf("%+v", *d.S3),
		"%#v":    fmt.Sprintf("%#v", *d.S3),
		"%s":     fmt.Sprintf("%s", d.S3.SecretKey),
		"%q":     fmt.Sprintf("%q", d.S3.SecretKey),
	}
	for how, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s prints the secret: %s", how, out)
		}
	}
	if !strings.Contains(c.String(), "secret_key: <secret>") {
		t.Errorf("String() does not show <secret>:\n%s", c)
	}
	// Nor does a validation error quote it (secret_key without access_key).
	_, err = Parse("s.yaml", []byte(strings.Replace(yml, "access_key: AKIAEXAMPLE", "region: eu-west-1", 1)))
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "access_key: required with secret_key") {
		t.Errorf("error %v", err)
	}
}
