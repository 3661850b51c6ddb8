package fakeaws

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func newTable(t *testing.T, d *DynamoDB) {
	t.Helper()
	_, err := d.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("tbl"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func TestConditionSemantics(t *testing.T) {
	item := map[string]types.AttributeValue{"k": s("a"), "c": n("5"), "o": s("w1"), "ss": &types.AttributeValueMemberSS{Value: []string{"x", "y"}}}
	tests := []struct {
		cond   string
		values map[string]types.AttributeValue
		want   bool
	}{
		{"c = :v", map[string]types.AttributeValue{":v": n("5")}, true},
		{"c = :v", map[string]types.AttributeValue{":v": n("5.0")}, true}, // numbers compare by value
		{"c = :v", map[string]types.AttributeValue{":v": s("5")}, false},  // different types never equal
		{"c < :v", map[string]types.AttributeValue{":v": n("10")}, true},  // numeric, not lexicographic
		{"o = :v AND c = :w", map[string]types.AttributeValue{":v": s("w1"), ":w": n("4")}, false},
		{"o = :v OR c = :w", map[string]types.AttributeValue{":v": s("w1"), ":w": n("4")}, true},
		{"NOT (o = :v)", map[string]types.AttributeValue{":v": s("w1")}, false},
		{"missing = :v", map[string]types.AttributeValue{":v": s("w1")}, false},
		{"missing <> :v", map[string]types.AttributeValue{":v": s("w1")}, true},
		{"attribute_exists(o)", nil, true},
		{"attribute_not_exists(o)", nil, false},
		{"attribute_not_exists(missing)", nil, true},
		{"begins_with(o, :p)", map[string]types.AttributeValue{":p": s("w")}, true},
		{"ss = :v", map[string]types.AttributeValue{":v": &types.AttributeValueMemberSS{Value: []string{"y", "x"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			x := newExprCtx(nil, tt.values)
			c, err := parseCondition(tt.cond, x)
			if err != nil {
				t.Fatal(err)
			}
			if got := c(item); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
}

func isValidation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
}

func TestConditionalWrites(t *testing.T) {
	ctx := context.Background()
	d := NewDynamoDB()
	newTable(t, d)
	put := func(cond string, names map[string]string) error {
		_, err := d.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("tbl"), Item: map[string]types.AttributeValue{"k": s("a"), "c": n("0")},
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names,
		})
		return err
	}
	if err := put("attribute_not_exists(#k)", map[string]string{"#k": "k"}); err != nil {
		t.Fatal(err)
	}
	err := put("attribute_not_exists(#k)", map[string]string{"#k": "k"})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second create: %v, want ConditionalCheckFailedException", err)
	}
	var oe *smithy.OperationError
	if !errors.As(err, &oe) || oe.Operation() != "PutItem" {
		t.Errorf("error %v is not wrapped in an OperationError like the SDK's", err)
	}
	if err := put("attribute_not_exists(#k)", map[string]string{"#k": "k", "#unused": "x"}); !isValidation(err) {
		t.Errorf("unused name: %v, want ValidationException", err)
	}
	if err := put("attribute_not_exists(#nope)", nil); !isValidation(err) {
		t.Errorf("undefined name: %v, want ValidationException", err)
	}

	upd := func(cond, update string, values map[string]types.AttributeValue) (*dynamodb.UpdateItemOutput, error) {
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")},
			UpdateExpression: aws.String(update), ExpressionAttributeValues: values, ReturnValues: types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
		}
		return d.UpdateItem(ctx, in)
	}
	out, err := upd("c = :c", "SET c = c + :one, o = :o ADD sw :one", map[string]types.AttributeValue{":c": n("0"), ":one": n("1"), ":o": s("w")})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Attributes["c"].(*types.AttributeValueMemberN).Value; got != "1" {
		t.Errorf("counter = %s, want 1", got)
	}
	if got := out.Attributes["sw"].(*types.AttributeValueMemberN).Value; got != "1" {
		t.Errorf("ADD on a missing number = %s, want 1", got)
	}
	_, err = upd("c = :c", "SET c = :c", map[string]types.AttributeValue{":c": n("0")})
	if !errors.As(err, &ccf) {
		t.Fatalf("stale counter: %v, want ConditionalCheckFailedException", err)
	}
	if ccf.Item["c"].(*types.AttributeValueMemberN).Value != "1" {
		t.Errorf("ReturnValuesOnConditionCheckFailure ALL_OLD returned %v", ccf.Item)
	}
	if _, err := upd("", "REMOVE o, sw", nil); err != nil {
		t.Fatal(err)
	}
	if it := d.Item("tbl", "a"); it["o"] != nil || it["sw"] != nil || it["c"] == nil {
		t.Errorf("after REMOVE: %v", it)
	}
	if _, err := upd("", "SET k = :v", map[string]types.AttributeValue{":v": s("b")}); !isValidation(err) {
		t.Errorf("updating the key: %v, want ValidationException", err)
	}
	if _, err := upd("", "SET x = missing + :one", map[string]types.AttributeValue{":one": n("1")}); !isValidation(err) {
		t.Errorf("arithmetic on a missing attribute: %v, want ValidationException", err)
	}
	if _, err := upd("", "SET x = :e", map[string]types.AttributeValue{":e": &types.AttributeValueMemberSS{}}); !isValidation(err) {
		t.Errorf("empty string set: %v, want ValidationException", err)
	}
	// UpdateItem creates a missing item when the condition allows it, as DynamoDB does.
	if _, err := d.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("new")},
		UpdateExpression: aws.String("SET c = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")},
	}); err != nil || d.Item("tbl", "new") == nil {
		t.Errorf("upsert: %v, item %v", err, d.Item("tbl", "new"))
	}
	// ...but never when the condition references a missing attribute's value.
	_, err = d.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("other")},
		ConditionExpression: aws.String("c = :z"),
		UpdateExpression:    aws.String("SET c = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1"), ":z": n("0")},
	})
	if !errors.As(err, &ccf) || d.Item("tbl", "other") != nil {
		t.Errorf("conditional update of a missing item: %v", err)
	}
}

func TestScanPaginationAndFaults(t *testing.T) {
	ctx := context.Background()
	d := NewDynamoDB()
	d.ScanPageSize = 3
	newTable(t, d)
	for i := range 10 {
		if _, err := d.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"), Item: map[string]types.AttributeValue{"k": s(fmt.Sprintf("k%02d", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	in := &dynamodb.ScanInput{TableName: aws.String("tbl")}
	pages := 0
	for {
		out, err := d.Scan(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range out.Items {
			got = append(got, it["k"].(*types.AttributeValueMemberS).Value)
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(got) != 10 || pages != 4 || got[0] != "k00" || got[9] != "k09" {
		t.Errorf("scan got %v in %d pages", got, pages)
	}

	boom := errors.New("boom")
	d.SetFaults(func(c Call) error {
		if c.Op == "GetItem" && c.Key == "k01" {
			return boom
		}
		return nil
	}, func(c Call) error {
		if c.Op == "DeleteItem" {
			return boom // applied, but the caller sees a failure
		}
		return nil
	})
	key := func(k string) map[string]types.AttributeValue { return map[string]types.AttributeValue{"k": s(k)} }
	if _, err := d.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("tbl"), Key: key("k01")}); !errors.Is(err, boom) {
		t.Errorf("before fault: %v", err)
	}
	if _, err := d.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("tbl"), Key: key("k02")}); !errors.Is(err, boom) {
		t.Errorf("after fault: %v", err)
	}
	if d.Item("tbl", "k02") != nil {
		t.Error("after fault: the delete was not applied")
	}
	if d.Calls("GetItem") != 1 || d.Calls("Scan") != 4 {
		t.Errorf("calls: GetItem %d, Scan %d", d.Calls("GetItem"), d.Calls("Scan"))
	}
}

func TestCreateDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDynamoDB()
		d.CreateDelay = time.Second
		newTable(t, d)
		desc := func() types.TableStatus {
			out, err := d.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("tbl")})
			if err != nil {
				t.Fatal(err)
			}
			return out.Table.TableStatus
		}
		if st := desc(); st != types.TableStatusCreating {
			t.Errorf("status = %s, want CREATING", st)
		}
		_, err := d.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")}})
		var rnf *types.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Errorf("GetItem on a CREATING table: %v, want ResourceNotFoundException", err)
		}
		time.Sleep(time.Second)
		if st := desc(); st != types.TableStatusActive {
			t.Errorf("status = %s, want ACTIVE", st)
		}
		newTableErr := func() error {
			_, err := d.CreateTable(context.Background(), &dynamodb.CreateTableInput{
				TableName:            aws.String("tbl"),
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
				BillingMode:          types.BillingModePayPerRequest,
			})
			return err
		}
		var riu *types.ResourceInUseException
		if err := newTableErr(); !errors.As(err, &riu) {
			t.Errorf("second CreateTable: %v, want ResourceInUseException", err)
		}
	})
}

func TestHangFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDynamoDB()
		newTable(t, d)
		d.SetFault(func(c Call) Fault {
			if c.Op == "UpdateItem" {
				return Hang
			}
			return NoFault
		})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := d.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")},
			UpdateExpression: aws.String("SET c = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")},
		})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("hung UpdateItem returned %v after %v, want the deadline after 3s", err, time.Since(start))
		}
		if d.Item("tbl", "a") != nil {
			t.Error("a hung call was applied")
		}
		// Other calls go on while one hangs: the fake's lock is not held by the hung call.
		hctx, hcancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.UpdateItem(hctx, &dynamodb.UpdateItemInput{
				TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")},
				UpdateExpression: aws.String("SET c = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")},
			})
			done <- err
		}()
		synctest.Wait()
		if _, err := d.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")}}); err != nil {
			t.Fatalf("GetItem during a hang: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("an UpdateItem without deadline answered (%v) instead of hanging", err)
		default:
		}
		hcancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("hung UpdateItem after cancel: %v, want context.Canceled", err)
		}
	})
}

func TestHangFaultEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDynamoDB()
		newTable(t, d)
		d.SetFault(func(Call) Fault { return Hang })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tbl")})
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Scan answered %v, want a hang", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Scan after cancel: %v, want context.Canceled", err)
		}
	})
}

func TestLostReplyFault(t *testing.T) {
	ctx := context.Background()
	d := NewDynamoDB()
	newTable(t, d)
	if _, err := d.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"), Item: map[string]types.AttributeValue{"k": s("a"), "c": n("0")}}); err != nil {
		t.Fatal(err)
	}
	d.SetFault(func(c Call) Fault {
		if c.Op == "UpdateItem" {
			return LostReply
		}
		return NoFault
	})
	_, err := d.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("tbl"), Key: map[string]types.AttributeValue{"k": s("a")},
		ConditionExpression: aws.String("c = :c"), UpdateExpression: aws.String("SET c = c + :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": n("0"), ":one": n("1")},
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("retried conditional write: %v, want ConditionalCheckFailedException", err)
	}
	if got := d.Item("tbl", "a")["c"].(*types.AttributeValueMemberN).Value; got != "1" {
		t.Errorf("counter = %s, want 1 (the first attempt applied, the retry refused)", got)
	}
	if got := d.Calls("UpdateItem"); got != 1 {
		t.Errorf("Calls(UpdateItem) = %d, want 1 (one call by the caller)", got)
	}
}

// TestForeignItems stores items of the kinds a Java KCL 3.x application keeps in its lease table (a
// migration state with a history list of maps, worker metrics with number lists) and reads them back.
func TestForeignItems(t *testing.T) {
	ctx := context.Background()
	d := NewDynamoDB()
	newTable(t, d)
	migration := map[string]types.AttributeValue{
		"k": s("Migration3.0"), "entityType": s("CLIENT_VERSION_MIGRATION"), "cv": s("CLIENT_VERSION_3X"),
		"mb": s("worker-1"), "mts": n("1733300000000"),
		"h": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"cv": s("CLIENT_VERSION_UPGRADE_FROM_2X"), "mb": s("worker-1"), "mts": n("1733200000000"),
		}}}},
	}
	metrics := map[string]types.AttributeValue{
		"k": s("worker-1"), "entityType": s("WORKER_METRIC_STATS"), "lut": n("1733300000"),
		"sts": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"C": &types.AttributeValueMemberL{Value: []types.AttributeValue{n("12.5"), n("13")}},
		}},
	}
	for _, it := range []map[string]types.AttributeValue{migration, metrics} {
		if _, err := d.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := d.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tbl")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Fatalf("scan: %d items, want 2", len(out.Items))
	}
	h := out.Items[0]["h"].(*types.AttributeValueMemberL).Value[0].(*types.AttributeValueMemberM).Value
	if h["cv"].(*types.AttributeValueMemberS).Value != "CLIENT_VERSION_UPGRADE_FROM_2X" {
		t.Errorf("history entry read back as %v", h)
	}
	if got := out.Items[1]["entityType"].(*types.AttributeValueMemberS).Value; got != "WORKER_METRIC_STATS" {
		t.Errorf("entityType = %q", got)
	}
}

// TestLatencyAndRetries: a request takes its latency; one whose caller gave up during the latency is
// still applied when it has passed; with SetRetries a throttled call is retried with the call's retryer
// (each attempt with its latency), without it the throttle is the answer.
func TestLatencyAndRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDynamoDB()
		newTable(t, d)
		d.SetLatency(func(c Call) time.Duration { return 2 * time.Second })
		put := func(ctx context.Context, v string, o ...func(*dynamodb.Options)) error {
			_, err := d.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tbl"),
				Item: map[string]types.AttributeValue{"k": s("a"), "v": s(v)}}, o...)
			return err
		}
		get := func() string {
			it := d.Item("tbl", "a")
			if it == nil {
				return ""
			}
			return it["v"].(*types.AttributeValueMemberS).Value
		}
		start := time.Now()
		if err := put(t.Context(), "1"); err != nil || time.Since(start) != 2*time.Second {
			t.Fatalf("put: %v after %v, want nil after 2s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := put(ctx, "2")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || get() != "1" {
			t.Fatalf("put cut short: %v, stored %q; want DeadlineExceeded, 1 still stored", err, get())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if get() != "2" {
			t.Fatalf("the request whose caller gave up was not applied after its latency: %q", get())
		}

		throttles := 2
		d.SetFaults(func(c Call) error {
			if c.Op == "PutItem" && throttles > 0 {
				throttles--
				return Throttled()
			}
			return nil
		}, nil)
		noDelay := func(o *dynamodb.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.RateLimiter = ratelimit.None
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 100 * time.Millisecond, nil })
			})
		}
		if err := put(t.Context(), "3", noDelay); err == nil {
			t.Fatal("throttled put succeeded without SetRetries")
		}
		d.SetRetries(true)
		start = time.Now()
		if err := put(t.Context(), "4", noDelay); err != nil || get() != "4" {
			t.Fatalf("put with retries: %v, stored %q", err, get())
		}
		if el := time.Since(start); el != 2*time.Second+100*time.Millisecond+2*time.Second {
			t.Errorf("throttled once, retried once: %v, want 4.1s (2 latencies and the retry delay)", el)
		}
		throttles = 5
		if err := put(t.Context(), "5", noDelay); !errors.As(err, new(*types.ProvisionedThroughputExceededException)) {
			t.Errorf("throttled past MaxAttempts: %v, want the throttle", err)
		}
	})
}
