package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/kpl"
)

// putInputs reads put's input files one after the other as one stream of lines: a file whose last
// line has no newline gets one, so it never runs into the next file's first line. It counts the
// lines of each file as they pass, so where names a line by file and number.
type putInputs struct {
	names   []string
	files   []io.Reader
	closers []io.Closer
	cur     int
	last    byte    // last byte read from the current file
	lines   []int64 // lines seen per file so far
}

// openPutInputs opens every file up front, so a missing one fails put before anything is sent. No
// name, or "-", reads stdin.
func openPutInputs(names []string, stdin io.Reader) (*putInputs, error) {
	in := &putInputs{last: '\n'}
	if len(names) == 0 {
		names = []string{"-"}
	}
	for _, n := range names {
		if n == "-" {
			in.names, in.files = append(in.names, "stdin"), append(in.files, stdin)
			continue
		}
		f, err := os.Open(n)
		if err != nil {
			in.Close()
			return nil, err // *PathError: "open day1.jsonl: no such file or directory"
		}
		in.names, in.files, in.closers = append(in.names, n), append(in.files, f), append(in.closers, f)
	}
	in.lines = make([]int64, len(in.files))
	return in, nil
}

func (in *putInputs) Read(p []byte) (int, error) {
	for in.cur < len(in.files) {
		if len(p) == 0 {
			return 0, nil
		}
		n, err := in.files[in.cur].Read(p)
		if n > 0 {
			in.lines[in.cur] += int64(bytes.Count(p[:n], []byte{'\n'}))
			in.last = p[n-1]
			return n, nil
		}
		if err == io.EOF {
			if in.last != '\n' { // end the file's last line
				p[0], in.last = '\n', '\n'
				in.lines[in.cur]++
				return 1, nil
			}
			in.cur++
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", in.names[in.cur], err)
		}
	}
	return 0, io.EOF
}

// where names the n-th line (from 1) of the whole input: "day2.jsonl:7", or "line 7" on stdin alone.
func (in *putInputs) where(n int64) string {
	if len(in.names) == 1 && in.names[0] == "stdin" {
		return "line " + strconv.FormatInt(n, 10)
	}
	for i, c := range in.lines {
		if n <= c || i == len(in.lines)-1 {
			return in.names[i] + ":" + strconv.FormatInt(n, 10)
		}
		n -= c
	}
	return "line " + strconv.FormatInt(n, 10)
}

func (in *putInputs) Close() error {
	var errs []error
	for _, c := range in.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// lineName names input line n in put's messages.
func lineName(c putConfig, n int64) string {
	if c.where != nil {
		return c.where(n)
	}
	return "line " + strconv.FormatInt(n, 10)
}

// preflightTimeout bounds putPreflight's ListShards call (SDK retries included).
var preflightTimeout = 10 * time.Second

// putPreflight asks Kinesis about the stream once before put reads a line (ListShards, which the
// producer calls anyway), so a stream that does not exist, or credentials Kinesis refuses, fail put
// in one line instead of once per input line. ListShards being denied is no failure: the producer
// then sends without shard prediction, as a PutRecords-only policy allows. Throttles and transient
// failures are left to the producer's retries, and so is a call without an answer within
// preflightTimeout (a hung call held put before its first line, for good).
func putPreflight(ctx context.Context, kc kpl.KinesisAPI, stream string) error {
	in := &kinesis.ListShardsInput{MaxResults: aws.Int32(1)}
	if strings.HasPrefix(stream, "arn:") {
		in.StreamARN = aws.String(stream)
	} else {
		in.StreamName = aws.String(stream)
	}
	cctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	_, err := kc.ListShards(cctx, in)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cctx.Err() != nil {
		return nil // no answer in time: the producer's own calls have deadlines and retries
	}
	if info := awserr.Classify(err); info.Code == "AccessDeniedException" {
		return nil
	}
	if msg, ok := fatalPutError(stream, err); ok {
		return errors.New(msg)
	}
	return nil
}

// fatalPutError says whether err, a record's failure, is one every later record would meet too:
// the stream does not exist, or Kinesis refuses the caller (access denied, unknown or expired
// credentials, a KMS key it may not use). Then it returns one line saying so. A record's own
// problem (a bad line, a record refused as invalid, an interrupt) is not fatal.
func fatalPutError(stream string, err error) (string, bool) {
	info := awserr.Classify(err)
	switch {
	case info.NotFound:
		return fmt.Sprintf("stream %s does not exist (%s)", stream, info.Code), true
	case info.Class != awserr.Terminal, info.Validation, info.Code == awserr.CodeRequestError, info.Code == "":
		return "", false
	}
	msg := info.Code
	if info.Message != "" {
		msg += ": " + info.Message
	}
	return fmt.Sprintf("stream %s: Kinesis refused the call: %s", stream, msg), true
}

// isTerminal reports whether w is a terminal (a character device), where live progress lines go.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
