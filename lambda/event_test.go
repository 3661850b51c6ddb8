package kinesislambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	kinesislambda "github.com/shardwise/shardwise/lambda"
)

var _ lambda.Handler = (*kinesislambda.Handler)(nil)

// sameAsJSON checks that DecodeEvent gives what json.Unmarshal gives into a zero event: the same
// event, or an error with the same text.
func sameAsJSON(t *testing.T, payload []byte) {
	t.Helper()
	var want, got events.KinesisEvent
	wantErr := json.Unmarshal(payload, &want)
	gotErr := kinesislambda.DecodeEvent(payload, &got)
	if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
		t.Fatalf("DecodeEvent(%.200q) error %v, json.Unmarshal %v", payload, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeEvent(%.200q) = %+v, json.Unmarshal %+v", payload, got, want)
	}
}

// TestDecodeEventKPL: events of kpl output (aggregates, compressed and plain records, empty data)
// decode as encoding/json decodes them.
func TestDecodeEventKPL(t *testing.T) {
	s := fill(t)
	for _, batch := range []int{1, 100, 10000} {
		for shard, recs := range s.kinesisRecords(t) {
			b := eventJSON(t, s.name, shard, recs[:min(batch, len(recs))])
			sameAsJSON(t, b)
		}
	}
	sample, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	sameAsJSON(t, sample)
}

// oddEvents are inputs the fast path leaves to encoding/json, or must reject as it does.
func oddEvents() []string {
	rec := func(kinesis string) string {
		return `{"Records":[{"eventID":"shardId-000000000000:1","eventSource":"aws:kinesis","kinesis":{` + kinesis + `}}]}`
	}
	return []string{
		``, `null`, `[]`, `{}`, `{"Records":null}`, `{"Records":[]}`, `{"Records":[null]}`, `{"Records":[{}]}`,
		`{"records":[{"eventID":"x"}]}`,                           // case-variant key
		`{"Records":[{"eventID":"x"}],"Records":[{}]}`,            // duplicate Records
		`{"Records":[{"eventID":"x","eventID":"y"}]}`,             // duplicate key
		`{"Records":[{"eventID":"a\"b"}]}`,                        // escape
		`{"Records":[{"eventID":"\u0041"}]}`,                      // unicode escape
		`{"Records":[{"eventID":"` + "\xff" + `"}]}`,              // invalid UTF-8
		`{"Records":[{"eventID":5}]}`,                             // wrong type
		`{"Records":[{"eventID":null}]}`,                          // null string
		`{"Records":[{"extra":{"a":[1,2,{"b":null}]}}],"x":true}`, // unknown keys
		`{"Records":[{"extra":{"a":[1,2,}]}}]}`,                   // invalid inside an unknown key
		`{"Records":[]} x`,                                        // trailing data
		`{"Records":[]`,                                           // truncated
		rec(`"data":"aGVsbG8="`),
		rec(`"data":""`),
		rec(`"data":null`),
		rec(`"data":"aGVsbG8"`),            // missing padding
		rec(`"data":"aGVs\nbG8="`),         // escaped newline: encoding/json decodes it
		rec("\"data\":\"aGVs\nbG8=\""),     // raw newline: invalid JSON
		rec(`"data":"aGVs\u0062G8="`),      // escaped letter
		rec(`"data":"a*VsbG8="`),           // outside the alphabet
		rec(`"data":"aGVsbG8=","data":""`), // duplicate data
		rec(`"approximateArrivalTimestamp":1764921600.123`),
		rec(`"approximateArrivalTimestamp":1.764921600123e9`),
		rec(`"approximateArrivalTimestamp":-1.5`),
		rec(`"approximateArrivalTimestamp":1e400`),
		rec(`"approximateArrivalTimestamp":"1764921600"`),
		rec(`"approximateArrivalTimestamp":null`),
		rec(`"approximateArrivalTimestamp":01`),
		rec(`"partitionKey":"k","sequenceNumber":"1","kinesisSchemaVersion":"1.0","encryptionType":"KMS"`),
		rec(`"PartitionKey":"k"`),
		`{"Records":[{"kinesis":{"partitionKey":"a"},"kinesis":{"data":""}}]}`, // duplicate kinesis
		strings.Repeat(`{"x":`, 70) + `1` + strings.Repeat(`}`, 70),            // deeper than the scanner goes
	}
}

// TestDecodeEventOddInput: DecodeEvent agrees with json.Unmarshal on the odd inputs.
func TestDecodeEventOddInput(t *testing.T) {
	for _, in := range oddEvents() {
		sameAsJSON(t, []byte(in))
	}
}

// TestHandler: a Handler answers an event with the partial batch response JSON, and an undecodable
// event with an error.
func TestHandler(t *testing.T) {
	s, shard, recs := shardRecords(t)
	payload := eventJSON(t, s.name, shard, recs)
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	all := kinesislambda.Records(ev)
	fail := all[len(all)/2]
	var seen int
	h := kinesislambda.NewHandler(func(_ context.Context, r kinesislambda.Record) error {
		if r.SequenceNumber == fail.SequenceNumber && r.SubSequenceNumber == fail.SubSequenceNumber {
			return errors.New("fail")
		}
		seen++
		return nil
	})
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"batchItemFailures":[{"itemIdentifier":"` + fail.SequenceNumber + `"}]}`; string(out) != want {
		t.Fatalf("Invoke = %s, want %s", out, want)
	}
	if seen != len(all)/2 {
		t.Fatalf("%d records before the failure, want %d", seen, len(all)/2)
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"Records":[{"kinesis":{"data":"%%%"}}]}`)); err == nil {
		t.Fatal("Invoke accepted data that is not base64")
	}
}

// TestHandlerAsLambdaStart: a Handler answers every event as lambda.Start's handler of the package
// example answers it (aws-lambda-go's lambda.NewHandler is what lambda.Start runs), byte for byte, and
// passes fn the same records.
func TestHandlerAsLambdaStart(t *testing.T) {
	s := fill(t)
	for shard, recs := range s.kinesisRecords(t) {
		payload := eventJSON(t, s.name, shard, recs)
		for _, failAt := range []int{-1, 0, 1, len(recs) / 3, len(recs) * 50} {
			var seenOurs, seenTheirs []kinesislambda.Record
			fn := func(seen *[]kinesislambda.Record) func(context.Context, kinesislambda.Record) error {
				return func(_ context.Context, r kinesislambda.Record) error {
					if len(*seen) == failAt {
						return errors.New("fail")
					}
					*seen = append(*seen, r)
					return nil
				}
			}
			ours, err := kinesislambda.NewHandler(fn(&seenOurs)).Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			theirsFn := fn(&seenTheirs)
			theirs, err := lambda.NewHandler(func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				return kinesislambda.ForEach(ctx, ev, theirsFn), nil
			}).Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			if string(ours) != string(theirs) {
				t.Fatalf("%s, failing at %d: Handler answered %s, lambda.NewHandler %s", shard, failAt, ours, theirs)
			}
			if len(seenOurs) != len(seenTheirs) {
				t.Fatalf("%s, failing at %d: fn saw %d records under Handler, %d under lambda.NewHandler", shard, failAt, len(seenOurs), len(seenTheirs))
			}
			for i := range seenOurs {
				a, b := seenOurs[i], seenTheirs[i]
				a.Source, b.Source = nil, nil // each points into its own decoded event
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s record %d: %+v under Handler, %+v under lambda.NewHandler", shard, i, a, b)
				}
			}
		}
	}
}

// FuzzDecodeEvent: DecodeEvent agrees with json.Unmarshal on any input.
func FuzzDecodeEvent(f *testing.F) {
	sample, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(`{"Records":[{"kinesis":{"data":"aGVsbG8=","approximateArrivalTimestamp":1.5},"eventID":"x"}],"y":[1,{"z":null}]}`))
	f.Add([]byte(`{"Records":[{"kinesis":{"data":""}},{"kinesis":{"data":null}}]}`))
	for _, in := range oddEvents() {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsJSON(t, b)
	})
}
