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
		{"key in another case", `{"records":[],"StreamName":"s"}`, false},
		{"bad literal", `{"X":A,"Records":[]}`, false},
		{"numbers and nesting", `{"X":[-0.5e+3,1,{"y":[true,false,null]}],"Records":[{"Data":"AA==","PartitionKey":"k"}]}`, true},
		{"last Records wins", `{"Records":[{"Data":"AA==","PartitionKey":"a"}],"Records":[{"Data":"AQ==","PartitionKey":"b"}]}`, true},
		{"invalid UTF-8 key", "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"\xff\"}]}", false},
		{"truncated", `{"Records":[{"Data":"AA==","PartitionKey":"k"}`, false},
		{"no partition key", `{"Records":[{"Data":"AA=="},{"Data":"AA==","PartitionKey":"k"}],"StreamName":"s"}`, true},
		{"empty partition and hash keys", `{"Records":[{"Data":"AA==","PartitionKey":"","ExplicitHashKey":""}],"StreamName":"s"}`, true},
		{"null partition key", `{"Records":[{"Data":"AA==","PartitionKey":null}],"StreamName":"s"}`, false},
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
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fastPutRecords = %+v, want %+v", got, want)
			}
		})
	}
}

// FuzzFastPutRecords checks the fast decoder never panics and, when it accepts a body, agrees with
// encoding/json.
func FuzzFastPutRecords(f *testing.F) {
	f.Add([]byte(`{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k1"},{"Data":"","ExplicitHashKey":"42","PartitionKey":"k2"}],"StreamName":"s"}`))
	f.Add([]byte(`{"StreamARN":"a","Records":[{"PartitionKey":"k","X":[{"y":"]"}],"Data":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := fastPutRecords(body)
		if !ok {
			return
		}
		var want putRecordsInput
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", body, err)
		}
		if len(got.Records) != len(want.Records) || got.StreamName != want.StreamName || got.StreamARN != want.StreamARN {
			t.Fatalf("fast %+v, encoding/json %+v", got, want)
		}
		for i := range got.Records {
			g, w := got.Records[i], want.Records[i]
			if string(g.Data) != string(w.Data) || g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey ||
				g.hasPK != w.hasPK || g.hasEHK != w.hasEHK {
				t.Fatalf("entry %d: fast %+v, encoding/json %+v", i, g, w)
			}
		}
	})
}
