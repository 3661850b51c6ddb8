package aggregation

// Magic is the 4-byte prefix of every KPL aggregated record. It is a constant so that no importer
// can change the wire format; compare with string(data[:len(Magic)]) == Magic.
const Magic = "\xF3\x89\x9A\xC2"

// DefaultMaxSize is the Java KPL's default AggregationMaxSize in bytes.
const DefaultMaxSize = 51200

// AggregatePartitionKey is the partition key of the Kinesis record carrying an aggregate, as the KPL
// sends it. Routing uses the aggregate's explicit hash key, so its value does not matter.
const AggregatePartitionKey = "a"

// overhead is the magic and the MD5 trailer around the protobuf body.
const overhead = len(Magic) + 16

// Record is a user record, or the Kinesis record that carries an aggregate.
type Record struct {
	PartitionKey    string // 1 to 256 Unicode code points; its MD5 picks the shard unless ExplicitHashKey is set
	ExplicitHashKey string // "" or a decimal number in [0, 2^128-1]
	Data            []byte // the payload, up to the stream's record size limit
}

// UserRecord is a record recovered by Deaggregate with its position inside the Kinesis record.
type UserRecord struct {
	Record
	SubSequenceNumber int // index among the user records of its Kinesis record; 0 for a plain record
}
