package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/ec2tags"
	"github.com/shardwise/shardwise/internal/endpoint"
)

// normalizeEndpoints applies the endpoint rule (package internal/endpoint) to agent.json's
// endpoints: a bare host becomes https://HOST, and plain http:// to a host other than this machine
// is refused unless SHARDWISE_ALLOW_INSECURE=1.
func normalizeEndpoints(cfg *agent.Config, allowInsecure bool) error {
	for _, e := range []struct {
		key string
		v   *string
	}{
		{"kinesis.endpoint", &cfg.KinesisEndpoint},
		{"firehose.endpoint", &cfg.FirehoseEndpoint},
		{"cloudwatch.endpoint", &cfg.CloudWatchEndpoint},
		{"sts.endpoint", &cfg.STSEndpoint},
	} {
		v, err := endpoint.Normalize(e.key, *e.v, allowInsecure)
		if err != nil {
			return err
		}
		*e.v = v
	}
	return nil
}

// checkSDKEndpoints applies the same rule to the endpoints the clients the agent will use resolve
// (agent.json's, else the SDK chain's AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL), so an
// environment variable cannot send data in clear text to another host either.
// baseCfg is the configuration before assumeRoleARN, which ADDEC2METADATA's DescribeTags uses.
func checkSDKEndpoints(awsCfg, baseCfg aws.Config, cfg agent.Config, allowInsecure bool) error {
	check := func(setting string, ep *string) error {
		return endpoint.Check(setting, aws.ToString(ep), allowInsecure)
	}
	if err := check("Kinesis endpoint (kinesis.endpoint, AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL)",
		newKinesisClient(awsCfg, cfg.KinesisEndpoint).Options().BaseEndpoint); err != nil {
		return err
	}
	ec2Checked := false
	for _, f := range cfg.Flows {
		for _, o := range f.DataProcessingOptions {
			if o.OptionName == agent.OptionAddEC2Metadata && !ec2Checked {
				ec2Checked = true
				if err := endpoint.Check("EC2 endpoint (AWS_ENDPOINT_URL_EC2 or AWS_ENDPOINT_URL)", ec2tags.New(baseCfg).Endpoint, allowInsecure); err != nil {
					return err
				}
			}
		}
	}
	for _, f := range cfg.Flows {
		if f.DeliveryStream != "" {
			if err := check("Firehose endpoint (firehose.endpoint, AWS_ENDPOINT_URL_FIREHOSE or AWS_ENDPOINT_URL)",
				newFirehoseClient(awsCfg, cfg.FirehoseEndpoint, cfg.FirehoseRegion).Options().BaseEndpoint); err != nil {
				return err
			}
			break
		}
	}
	if cfg.MetricsEnabled() {
		cw := cloudwatch.NewFromConfig(awsCfg, func(o *cloudwatch.Options) {
			if cfg.CloudWatchEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.CloudWatchEndpoint)
			}
		})
		if err := check("CloudWatch endpoint (cloudwatch.endpoint, AWS_ENDPOINT_URL_CLOUDWATCH or AWS_ENDPOINT_URL)", cw.Options().BaseEndpoint); err != nil {
			return err
		}
	}
	if cfg.AssumeRoleARN != "" {
		s := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.STSEndpoint)
			}
		})
		if err := check("STS endpoint (sts.endpoint, AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL)", s.Options().BaseEndpoint); err != nil {
			return err
		}
	}
	return nil
}
