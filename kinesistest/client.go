package kinesistest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// KinesisClient returns an AWS SDK Kinesis client for the server: region us-east-1, the server's
// URL as endpoint, anonymous credentials (the server ignores signatures) and [Server.Client] as its
// HTTP client. optFns adjust the options before the client is made, as in kinesis.New; for
// SubscribeToShard on a server without [TLS], set HTTPClient to [Server.HTTP2Client].
func (s *Server) KinesisClient(optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   s.Client(),
	}, optFns...)
}
