package multilang

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kcl"
)

func mustLoad(t *testing.T, s string) Properties {
	t.Helper()
	p, err := Load(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const minimalProps = "executableName = python3 app.py\napplicationName = app\nstreamName = s\nAwsCredentialsProvider = DefaultCredentialsProvider\nshutdownGraceMillis = 0\n"

func warningKeys(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Key)
	}
	return out
}

func TestFromPropertiesDefaults(t *testing.T) {
	c, warns, err := FromProperties(mustLoad(t, minimalProps))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings %v, want none", warns)
	}
	want := Config{
		Command: []string{"python3", "app.py"}, ApplicationName: "app", TableName: "app", Stream: "s", StreamName: "s",
		InitialPosition: kcl.TrimHorizon, Failover: 10 * time.Second, ShardSyncInterval: time.Minute,
		ParentPollInterval: 10 * time.Second, PollInterval: 1500 * time.Millisecond, TaskBackoff: 500 * time.Millisecond,
		MaxLeasesToSteal: 1, MaxRecords: 10000, FanOut: true, ConsumerName: "app",
		CleanupLeasesUponShardCompletion: true, ShardEndRequiresCheckpoint: true, OnChildFailure: Restart,
	}
	c.Settings, c.Credentials, c.CredentialsDynamoDB, c.CredentialsCloudWatch = nil, nil, nil, nil
	if !equalConfig(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func equalConfig(a, b Config) bool {
	return slices.Equal(a.Command, b.Command) && a.ApplicationName == b.ApplicationName && a.TableName == b.TableName &&
		a.Stream == b.Stream && a.StreamName == b.StreamName && a.InitialPosition == b.InitialPosition &&
		a.Failover == b.Failover && a.ShardSyncInterval == b.ShardSyncInterval && a.ParentPollInterval == b.ParentPollInterval &&
		a.PollInterval == b.PollInterval && a.TaskBackoff == b.TaskBackoff && a.MaxLeasesToSteal == b.MaxLeasesToSteal &&
		a.MaxRecords == b.MaxRecords && a.FanOut == b.FanOut && a.ConsumerName == b.ConsumerName &&
		a.CleanupLeasesUponShardCompletion == b.CleanupLeasesUponShardCompletion &&
		a.ShardEndRequiresCheckpoint == b.ShardEndRequiresCheckpoint && a.OnChildFailure == b.OnChildFailure &&
		a.ShutdownGrace == b.ShutdownGrace && a.Timeout == b.Timeout
}

func TestFromPropertiesMapping(t *testing.T) {
	in := minimalProps + `
streamArn = arn:aws:kinesis:eu-west-1:123456789012:stream/other
tableName = leases
executableName =   node   --max-old-space-size=64  app.js
idleTimeBetweenReadsInMillis = 250
maxRecords = 500
failoverTimeMillis = 3000
initialPositionInStream = LATEST
timeoutInSeconds = 7
shutdownGraceMillis = 1500
taskBackoffTimeMillis = 200
callProcessRecordsEvenForEmptyRecordList = true
cleanupLeasesUponShardCompletion = false
shardwise.onChildFailure = exit
shardwise.shardEndRequiresCheckpoint = false
maxLeasesForWorker = 4
awscredentialsproviderDynamoDB = ProfileCredentialsProvider|prod
`
	c, warns, err := FromProperties(mustLoad(t, in))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !slices.Equal(c.Command, []string{"node", "--max-old-space-size=64", "app.js"}):
		t.Errorf("command %q", c.Command)
	case c.Stream != "arn:aws:kinesis:eu-west-1:123456789012:stream/other" || c.StreamName != "other":
		t.Errorf("stream %q name %q: streamArn must win", c.Stream, c.StreamName)
	case c.TableName != "leases" || c.ConsumerName != "app":
		t.Errorf("table %q consumer %q", c.TableName, c.ConsumerName)
	case c.FanOut:
		t.Error("a polling key is set: DEFAULT must resolve to POLLING")
	case c.PollInterval != 250*time.Millisecond || c.MaxRecords != 500 || c.Failover != 3*time.Second:
		t.Errorf("poll %v max %d failover %v", c.PollInterval, c.MaxRecords, c.Failover)
	case c.InitialPosition != kcl.Latest || c.Timeout != 7*time.Second || c.ShutdownGrace != 1500*time.Millisecond || c.TaskBackoff != 200*time.Millisecond:
		t.Errorf("start %v timeout %v grace %v backoff %v", c.InitialPosition, c.Timeout, c.ShutdownGrace, c.TaskBackoff)
	case !c.CallProcessRecordsEvenForEmptyRecordList || c.CleanupLeasesUponShardCompletion || c.OnChildFailure != Exit || c.ShardEndRequiresCheckpoint:
		t.Errorf("toggles %+v", c)
	case c.MaxLeasesForWorker != 4:
		t.Errorf("maxLeasesForWorker %d", c.MaxLeasesForWorker)
	case len(c.CredentialsDynamoDB) != 1 || c.CredentialsDynamoDB[0].Kind() != "profile" || c.CredentialsDynamoDB[0].Args[0] != "prod":
		t.Errorf("DynamoDB credentials %+v (key matched case-insensitively)", c.CredentialsDynamoDB)
	}
	if got := warningKeys(warns); !slices.Equal(got, []string{"streamName"}) {
		t.Errorf("warnings %v, want streamName (ignored for streamArn)", warns)
	}
}

func TestFromPropertiesWarnings(t *testing.T) {
	in := "executableName = x\napplicationName = a\nstreamName = s\nmetricsLevel = NONE\nclientVersionConfig = CLIENT_VERSION_CONFIG_3X\n" +
		"workerMetricsTableName = w\nnoSuchKey = 1\nmaxActiveThreads = 4\nretrievalMode = FANOUT\nmaxRecords = 100\n"
	c, warns, err := FromProperties(mustLoad(t, in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metricsLevel", "clientVersionConfig", "workerMetricsTableName", "noSuchKey", "maxActiveThreads",
		"AwsCredentialsProvider", "retrievalMode", "shutdownGraceMillis"}
	if got := warningKeys(warns); !slices.Equal(got, want) {
		t.Errorf("warning keys %v, want %v", got, want)
	}
	if !c.FanOut {
		t.Error("retrievalMode = FANOUT must win over a polling key")
	}
	if c.ShutdownGrace != 30*time.Second {
		t.Errorf("shutdown grace %v, want the 30s default", c.ShutdownGrace)
	}
}

func TestFromPropertiesErrors(t *testing.T) {
	cases := map[string]string{
		"no executable":       "applicationName = a\nstreamName = s\n",
		"no application":      "executableName = x\nstreamName = s\n",
		"no stream":           "executableName = x\napplicationName = a\n",
		"bad arn":             "executableName = x\napplicationName = a\nstreamArn = arn:aws:kinesis:us-east-1:12:stream/s\n",
		"bad number":          minimalProps + "failoverTimeMillis = ten\n",
		"bad bool":            minimalProps + "cleanupLeasesUponShardCompletion = maybe\n",
		"bad position":        minimalProps + "initialPositionInStream = EARLIEST\n",
		"bad retrieval":       minimalProps + "retrievalMode = PUSH\n",
		"bad policy":          minimalProps + "shardwise.onChildFailure = ignore\n",
		"custom java class":   "executableName = x\napplicationName = a\nstreamName = s\nAwsCredentialsProvider = com.example.MyProvider\n",
		"max records too big": minimalProps + "maxRecords = 20000\n",
		"timestamp not epoch": minimalProps + "initialPositionInStreamExtended = yesterday\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := FromProperties(mustLoad(t, in)); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestCredentialProviders(t *testing.T) {
	ps, err := parseCredentialProviders("software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider, " +
		"KclStsAssumeRoleCredentialsProvider|arn:aws:iam::123456789012:role/r|sess|externalId=ext|endpointRegion=eu-west-1,DefaultAWSCredentialsProviderChain")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[0].Kind() != "env" || ps[2].Kind() != "default" {
		t.Fatalf("providers %+v", ps)
	}
	sts := ps[1]
	if sts.Kind() != "assumerole" || !slices.Equal(sts.Args, []string{"arn:aws:iam::123456789012:role/r", "sess"}) ||
		sts.Nested["externalId"] != "ext" || sts.Nested["endpointRegion"] != "eu-west-1" {
		t.Errorf("assume role provider %+v", sts)
	}
	_, err = parseCredentialProviders("MyCustomProvider")
	if err == nil || !strings.Contains(err.Error(), "StsAssumeRoleCredentialsProvider") {
		t.Errorf("unsupported provider: %v, want the list of supported names", err)
	}
}

func TestInitialPositionExtended(t *testing.T) {
	c, _, err := FromProperties(mustLoad(t, minimalProps+"initialPositionInStream = AT_TIMESTAMP\ninitialPositionInStreamExtended = 1700000000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.InitialPosition != kcl.AtTimestamp(time.Unix(1700000000, 0)) {
		t.Errorf("start %v", c.InitialPosition)
	}
}
