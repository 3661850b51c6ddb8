package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shardwise/shardwise/multilang"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// TestMultilangPrintConfigGolden: --print-config shows every resolved setting and warning for the Java
// daemon's sample properties (testdata/multilang/sample.properties).
func TestMultilangPrintConfigGolden(t *testing.T) {
	var out, errb bytes.Buffer
	in := filepath.Join("testdata", "multilang", "sample.properties")
	if err := run(context.Background(), []string{"multilang", "--print-config", in}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	golden := filepath.Join("testdata", "multilang", "sample.print-config.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("--print-config output differs from %s (go test -run PrintConfigGolden -update to accept):\n%s", golden, out.String())
	}
	// Every key of the file is either a resolved setting or a warning.
	b, _ := os.ReadFile(in)
	for _, line := range strings.Split(string(b), "\n") {
		key, _, ok := strings.Cut(line, " = ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(out.String(), "\n"+key+" ") && !strings.Contains(out.String(), "WARN "+key+":") {
			t.Errorf("key %s neither resolved nor warned about", key)
		}
	}
}

// TestMultilangPrintConfigUpstreamSample runs --print-config on the Node client's own sample.properties
// when SHARDWISE_KCL_NODEJS_SAMPLES names a checkout of amazon-kinesis-client-nodejs.
func TestMultilangPrintConfigUpstreamSample(t *testing.T) {
	dir := os.Getenv("SHARDWISE_KCL_NODEJS_SAMPLES")
	if dir == "" {
		t.Skip("SHARDWISE_KCL_NODEJS_SAMPLES is not set")
	}
	var out, errb bytes.Buffer
	in := filepath.Join(dir, "samples", "basic_sample", "consumer", "sample.properties")
	if err := run(context.Background(), []string{"multilang", "-p", in, "--print-config"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"executableName", "node sample_kcl_app.js", "kclnodejssample", "(resolved) retrieval", "FANOUT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMultilangUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"multilang"}, &out, &errb); !errors.Is(err, errCLIUsage) {
		t.Errorf("no file: %v, want usage error", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.properties")
	if err := os.WriteFile(bad, []byte("applicationName = a\nstreamName = s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"multilang", "--properties-file", bad, "--print-config"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "executableName is required") {
		t.Errorf("missing executableName: %v", err)
	}
}

func TestMultilangCredentialProviders(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	ctx := context.Background()
	base := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	props := "executableName = x\napplicationName = a\nstreamName = s\n" +
		"AwsCredentialsProvider = com.amazonaws.auth.EnvironmentVariableCredentialsProvider, AnonymousCredentialsProvider\n"
	p, err := multilang.Load(strings.NewReader(props))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := multilang.FromProperties(p)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := credentialChain(ctx, base, cfg.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := chain.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" {
		t.Fatalf("env provider first in the chain: %+v, %v", creds, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	static := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "STATIC", SecretAccessKey: "s"}, nil
	})
	creds, err = chainProvider{mustProvider(t, base, "EnvironmentVariableCredentialsProvider"), static}.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "STATIC" {
		t.Fatalf("without env keys the chain falls through to the next provider: %+v, %v", creds, err)
	}
	if _, ok := mustProvider(t, base, "AnonymousCredentialsProvider").(aws.AnonymousCredentials); !ok {
		t.Error("AnonymousCredentialsProvider is not the SDK's anonymous credentials (requests would be signed)")
	}
	if _, err := credentialProvider(ctx, base, multilang.CredentialProvider{Name: "StsAssumeRoleCredentialsProvider"}); err == nil {
		t.Error("assume role without a role ARN: no error")
	}
	if p := mustProvider(t, base, "StsAssumeRoleCredentialsProvider|arn:aws:iam::123456789012:role/r|s|externalId=x"); p == nil {
		t.Error("assume role provider is nil")
	}
	if d, err := credentialChain(ctx, base, nil); err != nil || d != nil {
		t.Errorf("no providers: %v, %v; want the default chain (nil)", d, err)
	}
}

func mustProvider(t *testing.T, base aws.Config, value string) aws.CredentialsProvider {
	t.Helper()
	p, err := multilang.Load(strings.NewReader("executableName = x\napplicationName = a\nstreamName = s\nAwsCredentialsProvider = " + value + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := multilang.FromProperties(p)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := credentialProvider(context.Background(), base, cfg.Credentials[0])
	if err != nil {
		t.Fatal(err)
	}
	return cp
}
