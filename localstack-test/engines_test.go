package localstack_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/internal/testenv"
)

// TestDynamoDBSurvivesClientResets: a client that resets its connection in the middle of a request
// body (an SDK call cancelled by its deadline, a worker killed with SIGKILL, the chaos suite's fault
// proxy) must not take the DynamoDB engine down, as it cannot take DynamoDB down. dynalite rethrows
// the aborted request's error and died of it (seen during a demo and a chaos run at once);
// engines.sh preloads lib/survive-client-aborts.js into it.
func TestDynamoDBSurvivesClientResets(t *testing.T) {
	dc := testenv.DynamoDB(t) // skips without AWS_ENDPOINT_URL_DYNAMODB
	ctx := testenv.Context(t, time.Minute)
	u, err := url.Parse(testenv.Endpoint(t, "DYNAMODB"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Expect: 100-continue: the engine answers "100 Continue" once its request handler runs
		// (and listens for the request's errors); only then is part of the body sent.
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n", u.Host)
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.Contains(line, " 100 ") {
			t.Fatalf("want 100 Continue, got %q, %v", line, err)
		}
		io.WriteString(c, `{"Limit":`)
		// Linger 0: Close sends a TCP RST instead of a FIN, as a killed process's socket does.
		if err := c.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if _, err := dc.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("after reset %d the engine no longer answers: %v", i+1, err)
		}
	}
}
