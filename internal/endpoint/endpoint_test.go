package endpoint

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		insecure bool
		want     string
		wantErr  error
	}{
		{"unset", "", false, "", nil},
		{"bare host is https", "kinesis.us-east-1.amazonaws.com", false, "https://kinesis.us-east-1.amazonaws.com", nil},
		{"bare host and port", "kinesis.example:8443", false, "https://kinesis.example:8443", nil},
		{"https kept", "https://kinesis.eu-west-1.amazonaws.com", false, "https://kinesis.eu-west-1.amazonaws.com", nil},
		{"spaces trimmed", "  https://k.example  ", false, "https://k.example", nil},
		{"http loopback v4", "http://127.0.0.1:4568", false, "http://127.0.0.1:4568", nil},
		{"http loopback 127/8", "http://127.8.9.10:1", false, "http://127.8.9.10:1", nil},
		{"http localhost", "http://localhost:4566", false, "http://localhost:4566", nil},
		{"http LOCALHOST", "HTTP://LOCALHOST", false, "HTTP://LOCALHOST", nil},
		{"http .localhost", "http://kinesis.localhost:1", false, "http://kinesis.localhost:1", nil},
		{"http loopback v6", "http://[::1]:4568", false, "http://[::1]:4568", nil},
		{"http remote refused", "http://kinesis.us-east-1.amazonaws.com", false, "", ErrInsecure},
		{"http private refused", "http://10.0.0.1:4568", false, "", ErrInsecure},
		{"http other v6 refused", "http://[::2]:1", false, "", ErrInsecure},
		{"http name resolving anywhere refused", "http://localhost.localstack.cloud:4566", false, "", ErrInsecure},
		{"http 0.0.0.0 refused", "http://0.0.0.0:4566", false, "", ErrInsecure},
		{"http remote opted in", "http://10.0.0.1:4568", true, "http://10.0.0.1:4568", nil},
		{"other scheme", "ftp://k.example", false, "", ErrInvalid},
		{"no host", "https://", false, "", ErrInvalid},
		{"no host opted in", "http://:80", true, "", ErrInvalid},
		{"unparsable", "https://k.example:port", false, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize("kinesis.endpoint", tt.raw, tt.insecure)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Normalize(%q, %v) = %q, %v; want %q, %v", tt.raw, tt.insecure, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "kinesis.endpoint") {
				t.Errorf("error %q does not name the setting", err)
			}
			if errors.Is(err, ErrInsecure) && !strings.Contains(err.Error(), AllowInsecureEnv) {
				t.Errorf("error %q does not say how to opt in", err)
			}
		})
	}
}

// TestCheckNeedsScheme: endpoints from the SDK chain (AWS_ENDPOINT_URL*) are full URLs; a bare host
// there is refused rather than guessed.
func TestCheckNeedsScheme(t *testing.T) {
	if err := Check("AWS_ENDPOINT_URL", "kinesis.example", false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Check(bare host) = %v, want ErrInvalid", err)
	}
	if err := Check("AWS_ENDPOINT_URL", "", false); err != nil {
		t.Fatalf("Check(\"\") = %v", err)
	}
}

func TestAllowInsecure(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "no": false, "1": true, "true": true, "TRUE": true, " 1 ": true} {
		got := AllowInsecure(func(k string) string {
			if k == AllowInsecureEnv {
				return v
			}
			return ""
		})
		if got != want {
			t.Errorf("AllowInsecure(%s=%q) = %v, want %v", AllowInsecureEnv, v, got, want)
		}
	}
}
