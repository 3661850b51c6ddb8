// Package fakeaws holds small in-memory fakes of AWS services for unit tests, behind the same method
// signatures as the SDK clients, where a wire-level server would be overkill.
//
// DynamoDB implements what the lease package calls: CreateTable, DescribeTable, GetItem, PutItem,
// UpdateItem, DeleteItem and Scan, with honest conditional-write semantics (see expr.go for the expression
// subset), ReturnValues, pagination and DynamoDB's validation of unused or undefined placeholders. Errors
// are the SDK's modeled exception types wrapped in *smithy.OperationError, as the real client returns them,
// so callers must classify them with errors.As.
//
// Faults: SetFaults fails a call before it is applied, or after (an ambiguous outcome); SetFault makes a
// call hang until its context ends (Hang) or applies it twice, as the SDK's retry does after a lost reply
// (LostReply). SetLatency slows every request down (a request whose caller gave up is still applied);
// Throttled is DynamoDB's throttling error, and SetRetries makes calls retry retryable errors as the SDK
// client does with the call's Retryer. Items are free-form: a table may hold items of several kinds (the Java KCL 3.x keeps
// worker metrics, the leader lock and migration state beside the leases, told apart by an entityType
// attribute), with maps and lists as values.
package fakeaws

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Call describes one request, for fault injection.
type Call struct {
	Op    string // "GetItem", "UpdateItem", ...
	Table string
	Key   string // the hash key value as a string, "" for table-level calls
}

// A Fault is how the fake answers one call (see SetFault).
type Fault int

const (
	// NoFault: the call is served normally.
	NoFault Fault = iota
	// Hang: the call never answers. It blocks until its context ends and returns the context's error;
	// nothing is applied (a request lost on the way, or a server that stopped answering). Without a
	// deadline on ctx the call blocks forever.
	Hang
	// LostReply: the call is applied but its reply is lost, and the SDK retries it: the fake applies the
	// request a second time and returns the second attempt's outcome. A conditional write whose condition
	// held at the first attempt therefore fails with ConditionalCheckFailedException although the table
	// shows its effect (a PutItem/UpdateItem without a condition is simply applied twice).
	LostReply
)

// DynamoDB is an in-memory DynamoDB. The zero value is not usable; call NewDynamoDB. It is safe for
// concurrent use; every call is atomic, so concurrent conditional writes race exactly as on DynamoDB.
type DynamoDB struct {
	mu     sync.Mutex
	tables map[string]*table
	calls  map[string]int
	before func(Call) error
	after  func(Call) error
	fault  func(Call) Fault

	latency func(Call) time.Duration
	retries bool
	late    sync.WaitGroup // requests whose callers gave up during their latency, not yet served

	// CreateDelay is how long a new table stays CREATING (measured with time.Now, so synctest's fake clock
	// applies). Set it before use; default 0.
	CreateDelay time.Duration
	// ScanPageSize caps the items of one Scan page (DynamoDB caps pages at 1 MB); default 100.
	ScanPageSize int
}

type table struct {
	desc    types.TableDescription
	hashKey string
	ready   time.Time
	items   map[string]map[string]types.AttributeValue
}

// NewDynamoDB returns an empty fake.
func NewDynamoDB() *DynamoDB {
	return &DynamoDB{tables: map[string]*table{}, calls: map[string]int{}}
}

// SetFaults installs fault injection. before runs ahead of each call: a non-nil error is returned and the
// call is not applied. after runs once a call was applied: a non-nil error is returned instead of the
// result although the write happened (an ambiguous outcome, like a timeout after the server committed).
// Either may be nil. They run under the fake's lock: they must not call the fake.
func (d *DynamoDB) SetFaults(before, after func(Call) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.before, d.after = before, after
}

// SetFault installs a fault chooser: f runs ahead of each call (after the before hook of SetFaults) and
// picks how the fake answers it (NoFault, Hang, LostReply). nil removes it. f runs under the fake's lock:
// it must not call the fake.
func (d *DynamoDB) SetFault(f func(Call) Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fault = f
}

// SetLatency makes every request take f(c) on the wire before the fake serves it, as a slow network or
// a proxy adds it (measured with time.Now, so synctest's fake clock applies). A caller whose context ends
// meanwhile gets the context's error at once, but its request was sent: it is served when its latency
// has passed, and its outcome is never reported (a write applied after the caller gave up, as
// on DynamoDB; see Settle). nil or 0 means none. f runs under the fake's lock: it must not call the fake.
func (d *DynamoDB) SetLatency(f func(Call) time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latency = f
}

// Settle waits until every request whose caller gave up during its latency has been served (call it
// before a synctest bubble ends: those requests run on goroutines of the fake).
func (d *DynamoDB) Settle() { d.late.Wait() }

// SetRetries makes calls retry as the SDK client's retry middleware does with the aws.Retryer of the
// call's options (dynamodb.Options.Retryer, set per call or not at all): a failed attempt whose error
// the retryer calls retryable (throttling, 5xx) is sent again after RetryDelay, up to MaxAttempts, each
// attempt with its own latency and faults; the caller's context bounds the whole. Off by default (every
// call is one attempt, so a fault injected into a call is what its caller sees). The retry quota is not
// modelled.
func (d *DynamoDB) SetRetries(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.retries = on
}

// Throttled returns the error DynamoDB answers a throttled request with
// (ProvisionedThroughputExceededException), for SetFaults' before hook. The SDK's retryers retry it.
func Throttled() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")}
}

// Calls returns how many calls of op (e.g. "Scan") the fake received, failed ones included.
func (d *DynamoDB) Calls(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

// Item returns a copy of the stored item whose hash key is the string key, or nil.
func (d *DynamoDB) Item(tableName, key string) map[string]types.AttributeValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tables[tableName]
	if t == nil {
		return nil
	}
	return copyItem(t.items[key])
}

func opErr(op string, err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: err}
}

func validation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func notFound(name string) error {
	return &types.ResourceNotFoundException{Message: aws.String("Requested resource not found: Table: " + name + " not found")}
}

// begin takes the lock, counts the call, fills in c.Key from key and runs the before fault; the caller must
// call end.
func (d *DynamoDB) begin(c *Call, key map[string]types.AttributeValue) error {
	d.mu.Lock()
	d.calls[c.Op]++
	if t := d.tables[c.Table]; t != nil && key != nil {
		c.Key = hashKeyOf(key, t.hashKey)
	}
	if d.before != nil {
		if err := d.before(*c); err != nil {
			return err
		}
	}
	return nil
}

// do runs one call the way the SDK client would: attempts (see attempt) retried as the per-call
// Retryer says when SetRetries is on.
func do[O any](ctx context.Context, d *DynamoDB, op string, table *string, key map[string]types.AttributeValue, optFns []func(*dynamodb.Options), fn func() (O, error)) (O, error) {
	d.mu.Lock()
	retries := d.retries
	d.mu.Unlock()
	var r aws.Retryer
	if retries {
		var o dynamodb.Options
		for _, f := range optFns {
			f(&o)
		}
		r = o.Retryer
	}
	for n := 1; ; n++ {
		out, err := attempt(ctx, d, op, table, key, fn)
		if err == nil || r == nil || ctx.Err() != nil || n >= r.MaxAttempts() || !r.IsErrorRetryable(err) {
			return out, err
		}
		delay, derr := r.RetryDelay(n, err)
		if derr != nil {
			return out, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return out, ctx.Err()
		}
	}
}

// lateApplyBound bounds a request applied after its caller gave up (it hangs no longer than this).
const lateApplyBound = time.Minute

// attempt is one request on the wire: it waits its latency (SetLatency), then is served (once). A
// caller whose ctx ends during the latency gets ctx's error at once, while the request, already sent,
// is applied when its latency has passed: the caller never learns the outcome.
func attempt[O any](ctx context.Context, d *DynamoDB, op string, table *string, key map[string]types.AttributeValue, fn func() (O, error)) (O, error) {
	var out O
	if err := ctx.Err(); err != nil {
		return out, err
	}
	d.mu.Lock()
	lat := time.Duration(0)
	if d.latency != nil {
		c := Call{Op: op, Table: aws.ToString(table)}
		if t := d.tables[c.Table]; t != nil && key != nil {
			c.Key = hashKeyOf(key, t.hashKey)
		}
		lat = d.latency(c)
	}
	d.mu.Unlock()
	if lat > 0 {
		sent := time.Now()
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			d.late.Go(func() { // the request is on its way; it ends within its latency plus lateApplyBound
				time.Sleep(lat - time.Since(sent))
				lctx, cancel := context.WithTimeout(context.Background(), lateApplyBound)
				defer cancel()
				_, _ = once(lctx, d, op, table, key, fn)
			})
			return out, ctx.Err()
		}
	}
	return once(ctx, d, op, table, key, fn)
}

// once serves one request the way every call goes through the fake: a cancelled ctx fails first, then
// begin (lock, count, before hook, fault choice), fn if begin allowed it (twice for LostReply; never for
// Hang, which waits for ctx instead), and end (after hook, unlock).
func once[O any](ctx context.Context, d *DynamoDB, op string, table *string, key map[string]types.AttributeValue, fn func() (O, error)) (O, error) {
	var out O
	if err := ctx.Err(); err != nil {
		return out, err
	}
	c := Call{Op: op, Table: aws.ToString(table)}
	err := d.begin(&c, key)
	f := NoFault
	if err == nil && d.fault != nil {
		f = d.fault(c)
	}
	switch {
	case err != nil:
	case f == Hang:
		d.mu.Unlock()
		<-ctx.Done()
		return out, ctx.Err()
	case f == LostReply:
		if _, err = fn(); err == nil { // the first attempt was applied; its answer never arrived
			out, err = fn()
		}
	default:
		out, err = fn()
	}
	return out, d.end(c, err)
}

// end runs the after fault when the call succeeded, releases the lock and wraps errors.
func (d *DynamoDB) end(c Call, err error) error {
	defer d.mu.Unlock()
	if err == nil && d.after != nil {
		err = d.after(c)
	}
	if err != nil {
		return opErr(c.Op, err)
	}
	return nil
}

// activeTable returns the table if it exists and is ACTIVE; data-plane calls on a table that is still being
// created fail with ResourceNotFoundException, as on DynamoDB.
func (d *DynamoDB) activeTable(name *string) (*table, error) {
	t := d.tables[aws.ToString(name)]
	if t == nil {
		return nil, notFound(aws.ToString(name))
	}
	d.refresh(t)
	if t.desc.TableStatus != types.TableStatusActive {
		return nil, notFound(aws.ToString(name))
	}
	return t, nil
}

func (d *DynamoDB) refresh(t *table) {
	if t.desc.TableStatus == types.TableStatusCreating && !time.Now().Before(t.ready) {
		t.desc.TableStatus = types.TableStatusActive
	}
}

// CreateTable creates a table keyed by a single hash key (the fake supports no range keys or indexes).
func (d *DynamoDB) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return do(ctx, d, "CreateTable", in.TableName, nil, optFns, func() (*dynamodb.CreateTableOutput, error) { return d.createTable(in) })
}

func (d *DynamoDB) createTable(in *dynamodb.CreateTableInput) (*dynamodb.CreateTableOutput, error) {
	name := aws.ToString(in.TableName)
	if len(name) < 3 {
		return nil, validation("TableName must be at least 3 characters long")
	}
	if len(in.KeySchema) != 1 || in.KeySchema[0].KeyType != types.KeyTypeHash {
		return nil, validation("the fake supports exactly one HASH key")
	}
	hash := aws.ToString(in.KeySchema[0].AttributeName)
	if len(in.AttributeDefinitions) != 1 || aws.ToString(in.AttributeDefinitions[0].AttributeName) != hash {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	desc := types.TableDescription{
		TableName:            aws.String(name),
		TableStatus:          types.TableStatusCreating,
		KeySchema:            slices.Clone(in.KeySchema),
		AttributeDefinitions: slices.Clone(in.AttributeDefinitions),
		CreationDateTime:     aws.Time(time.Now()),
	}
	switch in.BillingMode {
	case types.BillingModePayPerRequest:
		if in.ProvisionedThroughput != nil {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		desc.BillingModeSummary = &types.BillingModeSummary{BillingMode: types.BillingModePayPerRequest}
	case types.BillingModeProvisioned, "":
		pt := in.ProvisionedThroughput
		if pt == nil || aws.ToInt64(pt.ReadCapacityUnits) < 1 || aws.ToInt64(pt.WriteCapacityUnits) < 1 {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		desc.BillingModeSummary = &types.BillingModeSummary{BillingMode: types.BillingModeProvisioned}
		desc.ProvisionedThroughput = &types.ProvisionedThroughputDescription{
			ReadCapacityUnits: pt.ReadCapacityUnits, WriteCapacityUnits: pt.WriteCapacityUnits,
		}
	default:
		return nil, validation("unknown BillingMode %q", in.BillingMode)
	}
	if _, ok := d.tables[name]; ok {
		return nil, &types.ResourceInUseException{Message: aws.String("Table already exists: " + name)}
	}
	t := &table{desc: desc, hashKey: hash, ready: time.Now().Add(d.CreateDelay), items: map[string]map[string]types.AttributeValue{}}
	d.refresh(t)
	d.tables[name] = t
	return &dynamodb.CreateTableOutput{TableDescription: describe(t)}, nil
}

func describe(t *table) *types.TableDescription {
	desc := t.desc
	desc.ItemCount = aws.Int64(int64(len(t.items)))
	return &desc
}

// DescribeTable describes a table.
func (d *DynamoDB) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return do(ctx, d, "DescribeTable", in.TableName, nil, optFns, func() (*dynamodb.DescribeTableOutput, error) {
		t := d.tables[aws.ToString(in.TableName)]
		if t == nil {
			return nil, notFound(aws.ToString(in.TableName))
		}
		d.refresh(t)
		return &dynamodb.DescribeTableOutput{Table: describe(t)}, nil
	})
}

// keyString validates a Key map against the table's key schema and returns the hash key as a string.
func (t *table) keyString(key map[string]types.AttributeValue) (string, error) {
	if len(key) != 1 {
		return "", validation("The provided key element does not match the schema")
	}
	v, ok := key[t.hashKey].(*types.AttributeValueMemberS)
	if !ok {
		return "", validation("The provided key element does not match the schema")
	}
	if v.Value == "" {
		return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", t.hashKey)
	}
	return v.Value, nil
}

func hashKeyOf(key map[string]types.AttributeValue, name string) string {
	if v, ok := key[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// GetItem reads one item (always strongly consistent).
func (d *DynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return do(ctx, d, "GetItem", in.TableName, in.Key, optFns, func() (*dynamodb.GetItemOutput, error) { return d.getItem(in) })
}

func (d *DynamoDB) getItem(in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	if in.ProjectionExpression != nil || len(in.AttributesToGet) > 0 {
		return nil, validation("projections are not supported by the fake")
	}
	t, err := d.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyString(in.Key)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: copyItem(t.items[k])}, nil
}

// conditionHolds parses and evaluates an optional condition expression on item (nil when absent).
func conditionHolds(expr *string, x *exprCtx, item map[string]types.AttributeValue) (bool, error) {
	if expr == nil {
		return true, nil
	}
	c, err := parseCondition(*expr, x)
	if err != nil {
		return false, validation("Invalid ConditionExpression: %v", err)
	}
	if item == nil {
		item = map[string]types.AttributeValue{}
	}
	return c(item), nil
}

func conditionFailed(old map[string]types.AttributeValue, rv types.ReturnValuesOnConditionCheckFailure) error {
	e := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	if rv == types.ReturnValuesOnConditionCheckFailureAllOld {
		e.Item = copyItem(old)
	}
	return e
}

// PutItem writes a whole item, optionally conditionally.
func (d *DynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return do(ctx, d, "PutItem", in.TableName, in.Item, optFns, func() (*dynamodb.PutItemOutput, error) { return d.putItem(in) })
}

func (d *DynamoDB) putItem(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	if len(in.Expected) > 0 {
		return nil, validation("legacy Expected is not supported by the fake; use ConditionExpression")
	}
	t, err := d.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyString(map[string]types.AttributeValue{t.hashKey: in.Item[t.hashKey]})
	if err != nil {
		return nil, err
	}
	if err := validateItem(in.Item); err != nil {
		return nil, err
	}
	x := newExprCtx(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	old := t.items[k]
	ok, err := conditionHolds(in.ConditionExpression, x, old)
	if err != nil {
		return nil, err
	}
	if err := x.checkAllUsed(); err != nil {
		return nil, validation("%v", err)
	}
	if !ok {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	t.items[k] = copyItem(in.Item)
	out := &dynamodb.PutItemOutput{}
	if in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = copyItem(old)
	}
	return out, nil
}

// UpdateItem applies an update expression, optionally conditionally. Like DynamoDB it creates the item
// when it does not exist and the condition (if any) holds.
func (d *DynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return do(ctx, d, "UpdateItem", in.TableName, in.Key, optFns, func() (*dynamodb.UpdateItemOutput, error) { return d.updateItem(in) })
}

func (d *DynamoDB) updateItem(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	if len(in.Expected) > 0 || len(in.AttributeUpdates) > 0 {
		return nil, validation("legacy Expected/AttributeUpdates are not supported by the fake; use expressions")
	}
	t, err := d.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyString(in.Key)
	if err != nil {
		return nil, err
	}
	if in.UpdateExpression == nil {
		return nil, validation("the fake requires an UpdateExpression")
	}
	x := newExprCtx(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	old := t.items[k]
	ok, err := conditionHolds(in.ConditionExpression, x, old)
	if err != nil {
		return nil, err
	}
	u, err := parseUpdate(*in.UpdateExpression, x)
	if err != nil {
		return nil, validation("Invalid UpdateExpression: %v", err)
	}
	if err := x.checkAllUsed(); err != nil {
		return nil, validation("%v", err)
	}
	if slices.Contains(u.paths, t.hashKey) {
		return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", t.hashKey)
	}
	if !ok {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	nw := copyItem(old)
	if nw == nil {
		nw = copyItem(in.Key)
	}
	for _, act := range u.actions { // all right-hand sides see the old item, as in DynamoDB
		if err := act(nw); err != nil {
			return nil, validation("%v", err)
		}
	}
	if err := validateItem(nw); err != nil {
		return nil, err
	}
	t.items[k] = nw
	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case types.ReturnValueNone, "":
	case types.ReturnValueAllNew:
		out.Attributes = copyItem(nw)
	case types.ReturnValueAllOld:
		out.Attributes = copyItem(old)
	default:
		return nil, validation("ReturnValues %s is not supported by the fake", in.ReturnValues)
	}
	return out, nil
}

// DeleteItem deletes an item, optionally conditionally; deleting a missing item succeeds.
func (d *DynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return do(ctx, d, "DeleteItem", in.TableName, in.Key, optFns, func() (*dynamodb.DeleteItemOutput, error) { return d.deleteItem(in) })
}

func (d *DynamoDB) deleteItem(in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
	t, err := d.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyString(in.Key)
	if err != nil {
		return nil, err
	}
	x := newExprCtx(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	old := t.items[k]
	ok, err := conditionHolds(in.ConditionExpression, x, old)
	if err != nil {
		return nil, err
	}
	if err := x.checkAllUsed(); err != nil {
		return nil, validation("%v", err)
	}
	if !ok {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	delete(t.items, k)
	out := &dynamodb.DeleteItemOutput{}
	if in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = copyItem(old)
	}
	return out, nil
}

// Scan returns items in hash-key order, ScanPageSize (or Limit) per page, with LastEvaluatedKey when more
// remain. Filters and projections are not supported.
func (d *DynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return do(ctx, d, "Scan", in.TableName, nil, optFns, func() (*dynamodb.ScanOutput, error) { return d.scan(in) })
}

func (d *DynamoDB) scan(in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error) {
	if in.FilterExpression != nil || in.ProjectionExpression != nil || in.Segment != nil {
		return nil, validation("filters, projections and parallel scans are not supported by the fake")
	}
	t, err := d.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	keys := slices.SortedFunc(maps.Keys(t.items), cmp.Compare[string])
	start := 0
	if len(in.ExclusiveStartKey) > 0 {
		after := hashKeyOf(in.ExclusiveStartKey, t.hashKey)
		start, _ = slices.BinarySearch(keys, after)
		if start < len(keys) && keys[start] == after {
			start++
		}
	}
	page := d.ScanPageSize
	if page <= 0 {
		page = 100
	}
	if in.Limit != nil && int(*in.Limit) < page {
		page = int(*in.Limit)
	}
	out := &dynamodb.ScanOutput{}
	end := min(start+page, len(keys))
	for _, k := range keys[start:end] {
		out.Items = append(out.Items, copyItem(t.items[k]))
	}
	out.Count = int32(len(out.Items))
	out.ScannedCount = out.Count
	if end < len(keys) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{t.hashKey: &types.AttributeValueMemberS{Value: keys[end-1]}}
	}
	return out, nil
}

// validateItem applies DynamoDB's rules for attribute values that the lease table can run into: sets must
// be non-empty and without duplicates.
func validateItem(it map[string]types.AttributeValue) error {
	for name, v := range it {
		if ss, ok := v.(*types.AttributeValueMemberSS); ok {
			if len(ss.Value) == 0 {
				return validation("One or more parameter values were invalid: An string set may not be empty (attribute %s)", name)
			}
			s := slices.Clone(ss.Value)
			slices.Sort(s)
			if len(slices.Compact(s)) != len(ss.Value) {
				return validation("One or more parameter values were invalid: Input collection contains duplicates (attribute %s)", name)
			}
		}
	}
	return nil
}

// copyItem deep-copies an item so callers never share memory with the store.
func copyItem(it map[string]types.AttributeValue) map[string]types.AttributeValue {
	if it == nil {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(it))
	for k, v := range it {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v types.AttributeValue) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: v.Value}
	case *types.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: v.Value}
	case *types.AttributeValueMemberB:
		return &types.AttributeValueMemberB{Value: slices.Clone(v.Value)}
	case *types.AttributeValueMemberSS:
		return &types.AttributeValueMemberSS{Value: slices.Clone(v.Value)}
	case *types.AttributeValueMemberNS:
		return &types.AttributeValueMemberNS{Value: slices.Clone(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return &types.AttributeValueMemberBOOL{Value: v.Value}
	case *types.AttributeValueMemberNULL:
		return &types.AttributeValueMemberNULL{Value: v.Value}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(v.Value))
		for i, x := range v.Value {
			l[i] = copyValue(x)
		}
		return &types.AttributeValueMemberL{Value: l}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: copyItem(v.Value)}
	}
	return v
}
