package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/shardwise/shardwise/internal/ec2tags"
)

// addBrackets wraps the record in braces, as the Kinesis Agent's ADDBRACKETS does: "hello\n"
// becomes "{hello\n}" (the newline stays inside).
type addBrackets struct{}

func (addBrackets) process(data []byte) ([]byte, bool) {
	out := make([]byte, 0, len(data)+2)
	out = append(out, '{')
	out = append(out, data...)
	return append(out, '}'), true
}

// addMetadata makes each record a JSON object {"ts":...,"metadata":...,"data":"<record>"}, as the
// Kinesis Agent's ADDMETADATA does: ts (UTC, milliseconds) only with "timestamp": "true", metadata
// the option's "metadata" value as written (null when absent), data the record without its last
// newline.
type addMetadata struct {
	metadata  []byte // compact JSON
	timestamp bool
	pretty    bool // jsonFormat PRETTYPRINT
	now       func() time.Time
}

func newAddMetadata(o ProcessingOption, prefix string, pretty bool) (processor, error) {
	p := addMetadata{metadata: []byte("null"), timestamp: o.Timestamp, pretty: pretty, now: time.Now}
	if len(o.Metadata) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, o.Metadata); err != nil {
			return nil, configErr(prefix+"metadata", "must be a JSON value: %v", err)
		}
		p.metadata = buf.Bytes()
	}
	return p, nil
}

func (p addMetadata) process(data []byte) ([]byte, bool) {
	line := bytes.TrimSuffix(data, []byte{'\n'})
	out := make([]byte, 0, len(line)+len(p.metadata)+64)
	out = append(out, '{')
	if p.timestamp {
		out = append(out, `"ts":"`...)
		out = p.now().UTC().AppendFormat(out, "2006-01-02T15:04:05.000Z")
		out = append(out, `",`...)
	}
	out = append(out, `"metadata":`...)
	out = append(out, p.metadata...)
	out = append(out, `,"data":`...)
	out = appendJSONString(out, string(line))
	return jsonLayout(append(out, '}', '\n'), p.pretty), true
}

// DefaultEC2MetadataTTL is how long ADDEC2METADATA keeps the instance metadata before reading it
// again (its "metadataTTL", in seconds in agent.json): an hour, as in the Kinesis Agent.
const DefaultEC2MetadataTTL = time.Hour

// ec2MetadataTimeout bounds one read of the instance metadata (all its requests): off EC2 the
// read fails within this time, and the records pass without metadata.
const ec2MetadataTimeout = 2 * time.Second

// ec2Metadata is the instance metadata ADDEC2METADATA adds, in the Kinesis Agent's order.
type ec2Metadata struct {
	fields []string // keys, in order
	values [][]byte // JSON values
}

// EC2TagsAPI reads the tags of an EC2 instance with ec2:DescribeTags (filter resource-id = the
// instance id) in the instance's region, for ADDEC2METADATA when the instance metadata has no
// tags. A missing permission is an error implementing smithy.APIError with the code
// UnauthorizedOperation (as EC2 answers) or AccessDenied. The shardwise-agent command gives one
// that speaks the EC2 Query API with the agent's identity (WithEC2Tags); it must be safe for
// concurrent use.
type EC2TagsAPI interface {
	InstanceTags(ctx context.Context, region, instanceID string) (map[string]string, error)
}

// WithEC2Tags sets the client ADDEC2METADATA calls ec2:DescribeTags with when the instance
// metadata has no tags (instance tags in metadata not enabled). Without it such records get no
// "tags" and a Warn says why.
func WithEC2Tags(c EC2TagsAPI) Option { return optionFunc(func(o *options) { o.ec2Tags = c }) }

// ec2DescribeTagsTimeout bounds one ec2:DescribeTags look-up (all its pages and retries).
const ec2DescribeTagsTimeout = 5 * time.Second

// addEC2Metadata adds the EC2 instance's metadata to each record, a JSON object, as the Kinesis
// Agent's ADDEC2METADATA does: privateIp, availabilityZone, instanceId, instanceType, accountId,
// amiId, region, metadataTimestamp and tags (lower-cased keys) are set on the object (a key the
// record already has keeps its place and takes the metadata's value; the others are appended in
// that order). The metadata comes from the instance metadata service (IMDSv2) and is read again
// after the TTL; tags come from the instance metadata when instance tags in metadata are enabled,
// else from ec2:DescribeTags (the EC2TagsAPI given with WithEC2Tags), as the Kinesis Agent reads
// them. Without metadata (off EC2) records pass unchanged, with a Warn at each failed read; a
// record that is not a JSON object passes unchanged too (logged at Debug). Without tags (denied,
// no client) records get no "tags", with one Warn until the cause changes.
type addEC2Metadata struct {
	ttl    time.Duration
	pretty bool // jsonFormat PRETTYPRINT: records it adds metadata to are laid out indented
	fetch  func(context.Context, *slog.Logger) (ec2Metadata, error)

	mu          sync.Mutex
	log         *slog.Logger
	md          ec2Metadata
	fetchedAt   time.Time
	tried       bool
	ec2         EC2TagsAPI // nil: tags only from the instance metadata
	tagsProblem string     // the last Warn about tags ("" after tags were read): not repeated
	lastTags    []byte     // the tags last read (JSON), kept when a later DescribeTags fails
}

func newAddEC2Metadata(o ProcessingOption) *addEC2Metadata {
	p := &addEC2Metadata{ttl: o.MetadataTTL, log: slog.New(slog.DiscardHandler)}
	if p.ttl <= 0 {
		p.ttl = DefaultEC2MetadataTTL
	}
	p.fetch = p.readMetadata
	return p
}

func (p *addEC2Metadata) setEC2Tags(c EC2TagsAPI) {
	p.mu.Lock()
	p.ec2 = c
	p.mu.Unlock()
}

func (p *addEC2Metadata) setLogger(log *slog.Logger) {
	p.mu.Lock()
	p.log = log
	p.mu.Unlock()
}

// current returns the metadata, reading it again when the TTL has passed since the last read.
func (p *addEC2Metadata) current() ec2Metadata {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.tried && now.Sub(p.fetchedAt) < p.ttl {
		return p.md
	}
	p.tried, p.fetchedAt = true, now
	ctx, cancel := context.WithTimeout(context.Background(), ec2MetadataTimeout)
	defer cancel()
	md, err := p.fetch(ctx, p.log)
	if err != nil {
		p.log.Warn("ADDEC2METADATA: reading the EC2 instance metadata failed (not on EC2, or IMDS unreachable): records are sent without it until the next try",
			"err", err, "next_try_in", p.ttl.String())
		return p.md // what was known, if anything
	}
	p.md = md
	p.log.Info("ADDEC2METADATA: EC2 instance metadata read", "fields", len(md.fields))
	return md
}

func (p *addEC2Metadata) process(data []byte) ([]byte, bool) {
	md := p.current()
	if len(md.fields) == 0 {
		return data, true
	}
	keys, vals, ok := jsonObjectFields(data)
	if !ok {
		p.mu.Lock()
		log := p.log
		p.mu.Unlock()
		log.Debug("ADDEC2METADATA: the record is not a JSON object: sent without metadata")
		return data, true
	}
	for i, k := range md.fields {
		if j := slices.Index(keys, k); j >= 0 {
			vals[j] = md.values[i]
		} else {
			keys = append(keys, k)
			vals = append(vals, md.values[i])
		}
	}
	out := make([]byte, 0, len(data)+256)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, k)
		out = append(out, ':')
		out = append(out, vals[i]...)
	}
	return jsonLayout(append(out, '}', '\n'), p.pretty), true
}

// jsonObjectFields splits a JSON object into its keys and compact values, in order; a repeated key
// keeps its first place and its last value (as a Java LinkedHashMap does).
func jsonObjectFields(data []byte) (keys []string, vals [][]byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		k, isKey := tok.(string)
		if !isKey {
			return nil, nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, false
		}
		if j := slices.Index(keys, k); j >= 0 {
			vals[j] = buf.Bytes()
			continue
		}
		keys, vals = append(keys, k), append(vals, buf.Bytes())
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF { // only blanks may follow
		return nil, nil, false
	}
	return keys, vals, true
}

// readMetadata reads the instance identity document from the instance metadata service (IMDSv2;
// AWS_EC2_METADATA_SERVICE_ENDPOINT and AWS_EC2_METADATA_DISABLED apply), and the tags (see
// instanceTags). It is called with p.mu held.
func (p *addEC2Metadata) readMetadata(ctx context.Context, log *slog.Logger) (ec2Metadata, error) {
	client := imds.New(imds.Options{})
	doc, err := client.GetInstanceIdentityDocument(ctx, nil)
	if err != nil {
		return ec2Metadata{}, err
	}
	var md ec2Metadata
	add := func(k string, v any) {
		b, _ := json.Marshal(v) // strings always encode
		md.fields, md.values = append(md.fields, k), append(md.values, b)
	}
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	add("privateIp", str(doc.PrivateIP))
	add("availabilityZone", str(doc.AvailabilityZone))
	add("instanceId", str(doc.InstanceID))
	add("instanceType", str(doc.InstanceType))
	add("accountId", str(doc.AccountID))
	add("amiId", str(doc.ImageID))
	add("region", str(doc.Region))
	add("metadataTimestamp", time.Now().Format("2006-01-02T15:04:05-0700"))
	if tags := p.instanceTags(ctx, client, doc.Region, doc.InstanceID, log); tags != nil {
		md.fields, md.values = append(md.fields, "tags"), append(md.values, tags)
	}
	return md, nil
}

// instanceTags returns the instance's tags as a JSON object, keys lower-cased as the Kinesis
// Agent writes them, or nil when they cannot be had: from the instance metadata when instance
// tags in metadata are enabled, else from ec2:DescribeTags in the instance's region. When
// DescribeTags is denied, one Warn names the missing permission and records go without tags; when
// it fails otherwise, the tags read before (if any) are kept. Called with p.mu held.
func (p *addEC2Metadata) instanceTags(ctx context.Context, client *imds.Client, region, instanceID string, log *slog.Logger) []byte {
	tags, err := imdsTags(ctx, client)
	if err == nil {
		return p.tagsRead(tags)
	}
	if p.ec2 == nil {
		p.warnTags(log, "no client", "ADDEC2METADATA: the instance tags are not in the instance metadata (enable instance tags in metadata), and there is no EC2 client to call ec2:DescribeTags with: records get no \"tags\"",
			"err", err)
		return nil
	}
	log.Debug("ADDEC2METADATA: the instance tags are not in the instance metadata: calling ec2:DescribeTags", "err", err)
	dctx, cancel := context.WithTimeout(context.Background(), ec2DescribeTagsTimeout)
	defer cancel()
	tags, err = p.ec2.InstanceTags(dctx, region, instanceID)
	switch {
	case err == nil:
		return p.tagsRead(tags)
	case ec2tags.IsAccessDenied(err):
		p.lastTags = nil
		p.warnTags(log, "denied", "ADDEC2METADATA: ec2:DescribeTags is denied: allow ec2:DescribeTags to the agent's identity (or enable instance tags in metadata) for the instance tags; records are sent without \"tags\"",
			"missing_permission", "ec2:DescribeTags", "instance_id", instanceID, "err", err)
		return nil
	default:
		p.warnTags(log, "failed", "ADDEC2METADATA: ec2:DescribeTags failed: records keep the tags read before, if any, until the next try",
			"instance_id", instanceID, "region", region, "err", err, "next_try_in", p.ttl.String())
		return p.lastTags
	}
}

// tagsRead encodes tags read with their keys lower-cased (on a clash, the value of the key
// first in byte order wins, so the result does not depend on map order) and clears the Warn state.
func (p *addEC2Metadata) tagsRead(tags map[string]string) []byte {
	lower := make(map[string]string, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if _, dup := lower[strings.ToLower(k)]; !dup {
			lower[strings.ToLower(k)] = tags[k]
		}
	}
	b, _ := json.Marshal(lower) // a map of strings always encodes
	p.tagsProblem, p.lastTags = "", b
	return b
}

// warnTags logs a problem with the tags at Warn the first time, at Debug while it lasts.
func (p *addEC2Metadata) warnTags(log *slog.Logger, problem, msg string, args ...any) {
	if p.tagsProblem == problem {
		log.Debug(msg, args...)
		return
	}
	p.tagsProblem = problem
	log.Warn(msg, args...)
}

// imdsTags reads the instance tags (tags/instance), keys lower-cased as the Kinesis Agent does.
func imdsTags(ctx context.Context, client *imds.Client) (map[string]string, error) {
	list, err := imdsGet(ctx, client, "tags/instance")
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for key := range strings.Lines(list) {
		key = strings.TrimSpace(key)
		if key == "" {
			continue
		}
		v, err := imdsGet(ctx, client, "tags/instance/"+key)
		if err != nil {
			return nil, err
		}
		tags[strings.ToLower(key)] = v
	}
	return tags, nil
}

func imdsGet(ctx context.Context, client *imds.Client, path string) (string, error) {
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", err
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 1<<20))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
