package kinesistest

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFastPutRecordsMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		body string
		fast bool // whether the fast decoder takes it
	}{
		{"sdk shape", `{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k1"},{"Data":"","ExplicitHashKey":"42","PartitionKey":"k2"}],"StreamName":"s"}`, true},
		{"arn first, spaces, unknown members", ` { "StreamARN" : "arn:aws:kinesis:us-east-1:0:stream/s", "X": {"a":[1,"]"]}, "Records" : [ { "PartitionKey":"k", "Y": null, "Data":"AA==" } ] } `, true},
		{"empty records", `{"Records":[],"StreamName":"s"}`, true},
		{"escaped key", `{"Records":[{"Data":"AA==","PartitionKey":"k\"q"}],"StreamName":"s"}`, false},
		{"bad base64", `{"Records":[{"Data":"!!","PartitionKey":"k"}],"StreamName":"s"}`, false},
		{"trailing garbage", `{"Records":[],"StreamName":"s"} x`, false},
		{"truncated", `{"Records":[{"Data":"AA==","PartitionKey":"k"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fastPutRecords([]byte(tt.body))
			if ok != tt.fast {
				t.Fatalf("fastPutRecords ok = %v, want %v", ok, tt.fast)
			}
			if !ok {
				return
			}
			var want putRecordsInput
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatal(err)
			}
			for i := range want.Records {
				if want.Records[i].Data == nil {
					want.Records[i].Data = []byte{}
				}
			}
			if len(want.Records) == 0 {
				want.Records = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fastPutRecords = %+v, want %+v", got, want)
			}
		})
	}
}
