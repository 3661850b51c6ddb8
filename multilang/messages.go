package multilang

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/shardwise/shardwise/kcl"
)

// The actions of the MultiLangDaemon protocol. The daemon sends initialize, processRecords, leaseLost,
// shardEnded, shutdownRequested and checkpoint (responses); the child sends checkpoint (requests) and
// status.
const (
	actionInitialize        = "initialize"
	actionProcessRecords    = "processRecords"
	actionLeaseLost         = "leaseLost"
	actionShardEnded        = "shardEnded"
	actionShutdownRequested = "shutdownRequested"
	actionCheckpoint        = "checkpoint"
	actionStatus            = "status"
	actionRecord            = "record"
)

// The Java exception names a checkpoint response carries in "error" (throwable.getClass().getSimpleName()).
const (
	errIllegalArgument = "IllegalArgumentException"
	errShutdown        = "ShutdownException"
	errThrottling      = "ThrottlingException"
	errInvalidState    = "InvalidStateException"
	errDependency      = "KinesisClientLibDependencyException"
)

// Messages from the daemon to the child. Field order and null handling follow the Java daemon's Jackson
// output: every field is written, nulls included.

type initializeMessage struct {
	Action            string  `json:"action"`
	ShardID           string  `json:"shardId"`
	SequenceNumber    *string `json:"sequenceNumber"`
	SubSequenceNumber *int64  `json:"subSequenceNumber"`
}

type actionMessage struct {
	Action string `json:"action"`
}

type checkpointResponse struct {
	Action            string  `json:"action"`
	SequenceNumber    *string `json:"sequenceNumber"`
	SubSequenceNumber *int64  `json:"subSequenceNumber"`
	Error             *string `json:"error"`
}

// jsonRecord is the Java daemon's JsonFriendlyRecord; appendProcessRecords writes the same bytes without
// reflection (TestProcessRecordsMatchesEncoder).
type jsonRecord struct {
	Data                        string `json:"data"`
	PartitionKey                string `json:"partitionKey"`
	SequenceNumber              string `json:"sequenceNumber"`
	ApproximateArrivalTimestamp int64  `json:"approximateArrivalTimestamp"`
	SubSequenceNumber           int64  `json:"subSequenceNumber"`
	Action                      string `json:"action"`
}

type processRecordsMessage struct {
	Action             string       `json:"action"`
	MillisBehindLatest int64        `json:"millisBehindLatest"`
	Records            []jsonRecord `json:"records"`
}

// encodeLine returns v as one JSON line (json.Encoder without HTML escaping, ended by "\n").
func encodeLine(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the message types of this file are encoded; none can fail.
		panic(fmt.Sprintf("multilang: encoding %T: %v", v, err))
	}
	return b.Bytes()
}

// initializeLine is the initialize message for a shard starting at start (a sentinel name, or a record
// position from the lease's checkpoint).
func initializeLine(shardID string, start kcl.Position) []byte {
	m := initializeMessage{Action: actionInitialize, ShardID: shardID}
	if start.SequenceNumber != "" {
		seq, sub := start.SequenceNumber, int64(start.SubSequenceNumber)
		m.SequenceNumber, m.SubSequenceNumber = &seq, &sub
	}
	return encodeLine(m)
}

func actionLine(action string) []byte { return encodeLine(actionMessage{Action: action}) }

func checkpointResponseLine(req checkpointRequest, errName string) []byte {
	m := checkpointResponse{Action: actionCheckpoint, SequenceNumber: req.SequenceNumber, SubSequenceNumber: req.SubSequenceNumber}
	if errName != "" {
		m.Error = &errName
	}
	return encodeLine(m)
}

// appendProcessRecords appends the processRecords line for records to b. Data is encoded inside the call
// (kcl.Record.Data is only valid during ProcessRecords).
func appendProcessRecords(b []byte, records []kcl.Record, millisBehind int64) []byte {
	b = append(b, `{"action":"processRecords","millisBehindLatest":`...)
	b = strconv.AppendInt(b, millisBehind, 10)
	b = append(b, `,"records":[`...)
	for i, r := range records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"data":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Data)
		b = append(b, `","partitionKey":`...)
		b = appendJSONString(b, r.PartitionKey)
		b = append(b, `,"sequenceNumber":`...)
		b = appendJSONString(b, r.Position.SequenceNumber)
		b = append(b, `,"approximateArrivalTimestamp":`...)
		var ms int64
		if !r.ApproximateArrival.IsZero() {
			ms = r.ApproximateArrival.UnixMilli()
		}
		b = strconv.AppendInt(b, ms, 10)
		b = append(b, `,"subSequenceNumber":`...)
		b = strconv.AppendInt(b, int64(r.Position.SubSequenceNumber), 10)
		b = append(b, `,"action":"record"}`...)
	}
	return append(b, "]}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json does with SetEscapeHTML(false):
// invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Messages from the child.

// checkpointRequest is a child's checkpoint message. SequenceNumber is nil for "checkpoint at the
// largest permitted position"; SubSequenceNumber is nil when absent or null (the Node client never sends
// it).
type checkpointRequest struct {
	SequenceNumber    *string
	SubSequenceNumber *int64
	subInvalid        bool // present but neither a number, a numeric string nor null
}

// childMessage is one recognised line of the child's stdout: a status or a checkpoint request.
type childMessage struct {
	Action      string
	ResponseFor string            // status
	Checkpoint  checkpointRequest // checkpoint
}

// parseChildLine parses one stdout line. ok is false for lines that are not a status or checkpoint
// message (the Java daemon skips and logs them). Input is read leniently: sequenceNumber may be a string
// or a number, subSequenceNumber a number, a numeric string, null or absent; unknown fields are ignored.
func parseChildLine(line []byte) (m childMessage, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return m, false
	}
	var raw struct {
		Action            string          `json:"action"`
		ResponseFor       *string         `json:"responseFor"`
		SequenceNumber    json.RawMessage `json:"sequenceNumber"`
		SubSequenceNumber json.RawMessage `json:"subSequenceNumber"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return m, false
	}
	switch raw.Action {
	case actionStatus:
		if raw.ResponseFor == nil {
			return m, false
		}
		return childMessage{Action: actionStatus, ResponseFor: *raw.ResponseFor}, true
	case actionCheckpoint:
		m.Action = actionCheckpoint
		if seq, ok := jsonScalar(raw.SequenceNumber); ok && seq != nil {
			m.Checkpoint.SequenceNumber = seq
		} else if !ok {
			return m, false
		}
		sub, ok := jsonScalar(raw.SubSequenceNumber)
		switch {
		case !ok:
			m.Checkpoint.subInvalid = true
		case sub != nil:
			n, err := strconv.ParseInt(*sub, 10, 64)
			if err != nil {
				m.Checkpoint.subInvalid = true
			} else {
				m.Checkpoint.SubSequenceNumber = &n
			}
		}
		return m, true
	}
	return m, false
}

// jsonScalar returns a JSON string's or number's text; nil for null or absent; ok false otherwise.
func jsonScalar(raw json.RawMessage) (*string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
		return &s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		s := string(raw)
		return &s, true
	}
	return nil, false
}
