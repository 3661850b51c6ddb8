// Package localstack_test holds the smoke and interop suites that run against the local engines
// (kinesis-mock + dynalite from engines.sh, or LocalStack). Without AWS_ENDPOINT_URL_KINESIS /
// AWS_ENDPOINT_URL_DYNAMODB they skip; `make test` starts the engines and sets them.
package localstack_test
