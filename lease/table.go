package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tableWaitCap bounds EnsureTable when ctx has no deadline.
const tableWaitCap = 5 * time.Minute

// EnsureTable creates the lease table if it does not exist (hash key leaseKey (S); on-demand billing unless
// Provisioned was given) and waits until it is ACTIVE. Workers starting at once may all call it: a
// concurrent creator's ResourceInUseException just means waiting. An existing table with another key
// schema is reported as ErrTableMismatch. An existing table is then checked (CheckTable): a Java KCL table
// Shardwise must not join is reported as a *RefusedError. ctx bounds the whole call; without a deadline it
// is capped at five minutes.
func (m *Manager) EnsureTable(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, tableWaitCap)
		defer cancel()
	}
	desc, err := m.describeTable(ctx)
	switch {
	case err == nil:
		if err := checkSchema(m.table, desc); err != nil {
			return err
		}
		if ready(desc.TableStatus) {
			return m.CheckTable(ctx)
		}
	case isNotFound(err):
		if err := m.createTable(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("lease: describe table %s: %w", m.table, err)
	}
	if err := m.waitActive(ctx); err != nil {
		return err
	}
	return m.CheckTable(ctx)
}

func ready(s types.TableStatus) bool {
	return s == types.TableStatusActive || s == types.TableStatusUpdating
}

func (m *Manager) describeTable(ctx context.Context) (*types.TableDescription, error) {
	out, err := call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
		return m.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(m.table)}, o...)
	})
	if err != nil {
		return nil, err
	}
	if out.Table == nil {
		return nil, fmt.Errorf("lease: describe table %s: empty answer", m.table)
	}
	return out.Table, nil
}

func (m *Manager) createTable(ctx context.Context) error {
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(m.table),
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS},
		},
		BillingMode: types.BillingModePayPerRequest,
	}
	if m.cfg.provisioned {
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = &types.ProvisionedThroughput{
			ReadCapacityUnits:  aws.Int64(m.cfg.readCapacity),
			WriteCapacityUnits: aws.Int64(m.cfg.writeCapacity),
		}
	}
	_, err := call(ctx, m, func(ctx context.Context, o ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
		return m.db.CreateTable(ctx, in, o...)
	})
	switch {
	case err == nil:
		m.log.Info("lease table created", "billing_mode", string(in.BillingMode))
		return nil
	case isInUse(err): // another worker is creating it right now
		m.log.Debug("lease table being created by another worker")
		return nil
	default:
		return fmt.Errorf("lease: create table %s: %w", m.table, err)
	}
}

// waitActive polls DescribeTable with a doubling interval (50ms to 1s) until the table is usable.
func (m *Manager) waitActive(ctx context.Context) error {
	delay := 50 * time.Millisecond
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("lease: waiting for table %s to become ACTIVE: %w", m.table, ctx.Err())
		case <-t.C:
		}
		desc, err := m.describeTable(ctx)
		switch {
		case err == nil:
			if err := checkSchema(m.table, desc); err != nil {
				return err
			}
			if ready(desc.TableStatus) {
				return nil
			}
			if desc.TableStatus != types.TableStatusCreating {
				return fmt.Errorf("lease: table %s is %s", m.table, desc.TableStatus)
			}
		case isNotFound(err):
			// A concurrent creator's table may not be visible yet; keep waiting.
		default:
			return fmt.Errorf("lease: describe table %s: %w", m.table, err)
		}
		delay = min(2*delay, time.Second)
		t.Reset(delay)
	}
}

// checkSchema verifies that the table is keyed like a KCL lease table.
func checkSchema(table string, d *types.TableDescription) error {
	if len(d.KeySchema) != 1 || aws.ToString(d.KeySchema[0].AttributeName) != attrKey ||
		d.KeySchema[0].KeyType != types.KeyTypeHash {
		return fmt.Errorf("%w: table %s has key schema %s, want hash key %s", ErrTableMismatch, table, describeKeys(d.KeySchema), attrKey)
	}
	for _, ad := range d.AttributeDefinitions {
		if aws.ToString(ad.AttributeName) == attrKey && ad.AttributeType != types.ScalarAttributeTypeS {
			return fmt.Errorf("%w: table %s: %s has type %s, want S", ErrTableMismatch, table, attrKey, ad.AttributeType)
		}
	}
	return nil
}

func describeKeys(ks []types.KeySchemaElement) string {
	s := "["
	for i, k := range ks {
		if i > 0 {
			s += " "
		}
		s += aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
	}
	return s + "]"
}
