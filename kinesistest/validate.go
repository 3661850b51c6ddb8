package kinesistest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request validation against the API model, answered the way Kinesis answers it: every constraint of
// the model (lengths, patterns, required members) is checked over the whole request before the
// operation runs, and any violation fails the whole call with HTTP 400 ValidationException listing
// them all ("2 validation errors detected: Value '...' at 'records.3.member.partitionKey' failed to
// satisfy constraint: ...; Value ..."); list members are named by 1-based position. Constraints the
// model cannot express (a hash key above 2^128-1, a record above the stream's maximum size, a missing
// partition key where the stream needs one) are checked by the operation afterwards and answered with
// InvalidArgumentException. Nothing is written when either fails.

// Bounds and pattern of the PutRecord and PutRecordsRequestEntry shapes.
const (
	maxPartitionKeyChars = 256                 // Unicode code points (the Smithy length trait on strings)
	hashKeyPattern       = `0|([1-9]\d{0,38})` // ExplicitHashKey; matched against the whole value
)

// violations collects constraint violations of one request.
type violations []string

func (v *violations) add(format string, args ...any) {
	*v = append(*v, fmt.Sprintf(format, args...))
}

// err returns the ValidationException for the violations, or nil when there are none.
func (v violations) err() *Error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return errorf(CodeValidation, "1 validation error detected: %s", v[0])
	}
	return errorf(CodeValidation, "%d validation errors detected: %s", len(v), strings.Join(v, "; "))
}

// checkRecordModel checks one record's members against the model; path prefixes the member names
// ("" for PutRecord, "records.N.member." for PutRecords).
func checkRecordModel(v *violations, path string, pk string, hasPK bool, ehk string, hasEHK bool, data []byte) {
	if data == nil {
		v.add("Value null at '%sdata' failed to satisfy constraint: Member must not be null", path)
	} else if len(data) > maxDataBytes {
		v.add("Value at '%sdata' failed to satisfy constraint: Member must have length less than or equal to %d", path, maxDataBytes)
	}
	if hasPK {
		if pk == "" {
			v.add("Value '' at '%spartitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1", path)
		} else if len(pk) > maxPartitionKeyChars && utf8.RuneCountInString(pk) > maxPartitionKeyChars {
			v.add("Value '%s' at '%spartitionKey' failed to satisfy constraint: Member must have length less than or equal to %d", pk, path, maxPartitionKeyChars)
		}
	}
	if hasEHK && !matchesHashKeyPattern(ehk) {
		v.add("Value '%s' at '%sexplicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", ehk, path, hashKeyPattern)
	}
}

// matchesHashKeyPattern reports whether s matches 0|([1-9]\d{0,38}) as a whole: a decimal number of
// at most 39 digits without leading zeros. Its value may still exceed 2^128-1.
func matchesHashKeyPattern(s string) bool {
	if s == "0" {
		return true
	}
	if len(s) == 0 || len(s) > 39 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// recordPath names entry i (0-based) of a PutRecords request as Kinesis's validation messages do.
func recordPath(i int) string {
	return "records." + strconv.Itoa(i+1) + ".member."
}
