module github.com/shardwise/shardwise/lambda

go 1.26.0

require github.com/shardwise/shardwise v0.0.0-00010101000000-000000000000

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/klauspost/compress v1.20.4 // indirect
)

replace github.com/shardwise/shardwise => ../
